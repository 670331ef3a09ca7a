"""A router run as ``serve`` (a real process, its stderr kept), for what only a process shows:
its log as written, its listeners, its file modes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from tests.conftest import OAUTH_TOKEN, run_cli
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy


@dataclass
class ServedRouter:
    url: str
    admin_url: str
    key: str
    env: dict[str, str]
    process: asyncio.subprocess.Process
    stderr: list[bytes] = field(default_factory=list)

    async def stop(self) -> str:
        """Stop it (SIGTERM) and return everything it logged."""
        if self.process.returncode is None:
            self.process.terminate()
            _, err = await asyncio.wait_for(self.process.communicate(), timeout=30)
            self.stderr.append(err)
        return b"".join(self.stderr).decode(errors="replace")


@pytest.fixture
async def served(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> AsyncIterator[ServedRouter]:
    port, admin_port = free_port(), free_port()
    env = {
        **cli_env,
        "UPSTREAM_BASE_URL": fake_upstream.url,
        "UPSTREAM_OAUTH_TOKEN": OAUTH_TOKEN,
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(port),
        "ADMIN_PORT": str(admin_port),
        "LOG_LEVEL": "debug",
        "MAX_REQUEST_BODY_MB": "1",
    }
    code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
    assert code == 0, err
    key = orjson.loads(out)["token"]
    process = await start_serve(env, tmp_path)
    router = ServedRouter(
        f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", key, env, process
    )
    await wait_until_healthy(router.url, process)
    yield router
    await router.stop()
