"""Claude Code against the router: installing the pinned version, and one ``claude -p`` run with
the router and the fake upstream beside it.

``python -m tests.clients.claude_code RUN.json`` is the run: it starts the fake upstream (as a
small agent that calls Claude Code's ``Bash`` tool once) and the router on 127.0.0.1, issues a
key, runs ``claude -p`` with ``ANTHROPIC_BASE_URL`` at the router and the key in
``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``), and prints what happened as JSON: Claude
Code's output, what reached the upstream and the ledger's row. The test runs it under
``unshare -n`` where it may (root), so that only a loopback interface exists; everywhere the
proxy variables point at a closed loopback port and Claude Code's telemetry, error reporting,
update checks and other non-essential traffic are off.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

CLAUDE_CODE_VERSION = "2.1.332"
ROOT = Path(__file__).resolve().parents[2]
INSTALL_DIR = ROOT / ".clients" / f"claude-code-{CLAUDE_CODE_VERSION}"
CALLS: dict[str, dict[str, object]] = {"Bash": {"command": "expr 6 \\* 7"}}
"""The agent's one tool call: Claude Code's shell tool."""
OFFLINE_ENV = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}
"""Claude Code's switches for everything but the API calls."""


def claude_binary() -> Path:
    """The pinned Claude Code, installed from npm into ``.clients/`` on first use."""
    binary = INSTALL_DIR / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    options = ("--no-audit", "--no-fund", "--no-save", "--loglevel=error")
    package = f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"
    subprocess.run(
        [npm, "install", "--prefix", str(INSTALL_DIR), *options, package],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


async def run(claude: Path, prompt: str, key_variable: str) -> dict[str, Any]:
    from aiohttp import web

    from link_assistant_router.app import ROUTER, create_app
    from link_assistant_router.config import Settings
    from link_assistant_router.connections import make_runner
    from link_assistant_router.storage.records import UsageQuery
    from tests.closed import closed_proxy_env
    from tests.conftest import OAUTH_TOKEN, TEST_SECRET, claude_login, write_credentials
    from tests.fakes.upstream import running_fake_upstream

    with tempfile.TemporaryDirectory(prefix="lar-claude-") as scratch:
        home = Path(scratch)
        async with running_fake_upstream() as fake:
            fake.scenarios[OAUTH_TOKEN] = "agent"
            fake.agent_calls.update(CALLS)
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
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            host, port = runner.addresses[0][:2]
            try:
                router = app[ROUTER]
                key = await router.keys.issue(1, "claude-code")
                work = home / "work"
                work.mkdir()
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(home),  # no login of the client's own: only the router's key
                    "ANTHROPIC_BASE_URL": f"http://{host}:{port}",
                    key_variable: key.token,
                    "IS_SANDBOX": "1",  # tools may run as root here (CI runs as root)
                    **OFFLINE_ENV,
                    **closed_proxy_env(),
                }
                process = await asyncio.create_subprocess_exec(
                    str(claude),
                    "-p",
                    prompt,
                    "--output-format",
                    "json",
                    "--allowedTools",
                    "Bash",
                    cwd=work,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(process.communicate(), timeout=180)
                await router.ledger.flush()
                rows = await router.store.recent_usage(UsageQuery(key_id=key.record.id))
            finally:
                await runner.cleanup()
            return {
                "returncode": process.returncode,
                "stdout": out.decode(errors="replace"),
                "stderr": err.decode(errors="replace"),
                "token": key.token,
                "sent": [
                    {
                        "path": request.path,
                        "query": request.query_string,
                        "headers": {str(k).lower(): v for k, v in request.headers.items()},
                        "body": orjson.loads(request.body) if request.body else None,
                    }
                    for request in fake.requests
                ],
                "ledger": [
                    {
                        "model": row.model,
                        "status": row.status,
                        "output_tokens": row.output_tokens,
                        "session": row.session,
                        "client": row.client,
                    }
                    for row in rows
                ],
            }


def main() -> None:
    claude, prompt, isolated, key_variable = sys.argv[1:5]
    if isolated == "isolated":  # a fresh network namespace: bring its loopback up
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result = asyncio.run(run(Path(claude), prompt, key_variable))
    sys.stdout.write(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
