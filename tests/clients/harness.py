"""What the command-line client tests share: the pinned client installed from npm, the router
and the fake upstream (as a small agent) on 127.0.0.1 for one run, the client run as a process,
and that run in a fresh network namespace where this machine allows one (root): there, only
loopback exists.

A client's run is a module of ``tests.clients`` (``codex.py``, ``claude_code.py``) started by
``run_module``; it prints its report as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]


def npm_binary(package: str, version: str, name: str) -> Path:
    """``package`` at ``version``'s command ``name``, installed from npm into ``.clients/`` on
    first use (FileNotFoundError: no npm)."""
    install_dir = ROOT / ".clients" / f"{package.rsplit('/', 1)[-1]}-{version}"
    binary = install_dir / "node_modules" / ".bin" / name
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    install_dir.mkdir(parents=True, exist_ok=True)
    options = ("--no-audit", "--no-fund", "--no-save", "--loglevel=error")
    subprocess.run(
        [npm, "install", "--prefix", str(install_dir), *options, f"{package}@{version}"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


@dataclass
class Bench:
    """One run's router (``url``, its parts) and fake upstream, and a scratch home."""

    url: str
    router: Any  # link_assistant_router.app.Router
    fake: Any  # tests.fakes.upstream.FakeUpstream
    home: Path


@contextlib.asynccontextmanager
async def router_and_agent(calls: Mapping[str, dict[str, object]]) -> AsyncIterator[Bench]:
    """The fake upstream as an agent that makes ``calls`` (Claude tool name -> input), and a
    router in front of it with a Claude Code login, both on 127.0.0.1."""
    from aiohttp import web

    from link_assistant_router.app import ROUTER, create_app
    from link_assistant_router.config import Settings
    from link_assistant_router.connections import make_runner
    from tests.conftest import OAUTH_TOKEN, TEST_SECRET, claude_login, write_credentials
    from tests.fakes.upstream import running_fake_upstream

    with tempfile.TemporaryDirectory(prefix="lar-client-") as scratch:
        home = Path(scratch)
        async with running_fake_upstream() as fake:
            fake.scenarios[OAUTH_TOKEN] = "agent"
            fake.agent_calls.update(calls)
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=home / "data",
                claude_code_home=home / "router-login",
                upstream_base_url=fake.url,
                oauth_token_url="http://127.0.0.1:9/v1/oauth/token",
                token_secret=TEST_SECRET,
                admin_port=0,
            )
            write_credentials(settings.claude_code_home, claude_login())
            app = create_app(settings)
            runner = make_runner(app)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                host, port = runner.addresses[0][:2]
                yield Bench(f"http://{host}:{port}", app[ROUTER], fake, home)
            finally:
                await runner.cleanup()


async def run_client(
    command: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> tuple[int | None, str, str]:
    """Run a client to its end (at most 180 s) with ``env`` and the proxy variables at a closed
    loopback port: its exit status, stdout and stderr."""
    from tests.closed import closed_proxy_env

    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env, **closed_proxy_env()},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def loopback_up(mode: str) -> None:
    """In a fresh network namespace (``mode`` ``isolated``), bring its loopback up."""
    if mode == "isolated":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


@cache
def isolated() -> bool:
    """Whether runs get a network namespace of their own (root, with unshare and iproute2)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_module(module: str, *args: str) -> dict[str, Any]:
    """``python -m module ARGS``'s JSON report, where ``{mode}`` in ``args`` becomes
    ``isolated`` (the run has a network namespace of its own) or ``shared``."""
    mode = "isolated" if isolated() else "shared"
    command = [sys.executable, "-m", module, *(mode if arg == "{mode}" else arg for arg in args)]
    if isolated():
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result
