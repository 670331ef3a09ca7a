"""The Codex CLI against the router: installing the pinned version, and one ``codex exec`` run
with the router and the fake upstream beside it.

``python -m tests.clients.codex RUN.json`` is the run: it starts the fake upstream (as a small
agent that calls Codex's ``exec`` tool once) and the router on 127.0.0.1, writes a
``$CODEX_HOME/config.toml`` with only the documented provider block, runs ``codex exec`` with
the key in the provider's ``env_key`` variable, and prints what happened as JSON. The test runs
it under ``unshare -n`` where it may (root), so that the namespace has nothing but a loopback
interface: then neither Codex nor anything else in the run can reach another host. Everywhere
the proxy variables point at a closed loopback port, and Codex's analytics, update check and
plugin sync (which fetches from GitHub) are off through ``-c`` flags.
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

CODEX_VERSION = "0.169.0"
ROOT = Path(__file__).resolve().parents[2]
INSTALL_DIR = ROOT / ".clients" / f"codex-{CODEX_VERSION}"
CALLS: dict[str, dict[str, object]] = {
    # Codex's default model: a JavaScript ``exec`` tool (a custom tool in the ``functions``
    # namespace of an additional_tools item), as Claude sees it.
    "functions__exec": {"input": "text(6 * 7)"},
    # Older models (-m gpt-5.1-codex): a shell command, function tools in ``tools``.
    "exec_command": {"cmd": "expr 6 \\* 7"},
}
"""The agent's one tool call: the first of these tools the request offers."""
OFFLINE_FLAGS = (
    "-c",
    "analytics.enabled=false",
    "-c",
    "check_for_update_on_startup=false",
    "-c",
    "features.plugins=false",
    "-c",
    "features.apps=false",
)
PROVIDER = """model_provider = "router"

[model_providers.router]
name = "Link.Assistant.Router"
base_url = "{url}/v1"
env_key = "ROUTER_API_KEY"
wire_api = "responses"
"""


def codex_binary() -> Path:
    """The pinned Codex CLI, installed from npm into ``.clients/`` on first use."""
    binary = INSTALL_DIR / "node_modules" / ".bin" / "codex"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    options = ("--no-audit", "--no-fund", "--no-save", "--loglevel=error")
    subprocess.run(
        [npm, "install", "--prefix", str(INSTALL_DIR), *options, f"@openai/codex@{CODEX_VERSION}"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return binary


async def run(codex: Path, prompt: str, model: str | None) -> dict[str, Any]:
    from aiohttp import web

    from link_assistant_router.app import ROUTER, create_app
    from link_assistant_router.config import Settings
    from link_assistant_router.connections import make_runner
    from tests.closed import closed_proxy_env
    from tests.conftest import OAUTH_TOKEN, TEST_SECRET, claude_login, write_credentials
    from tests.fakes.upstream import running_fake_upstream

    with tempfile.TemporaryDirectory(prefix="lar-codex-") as scratch:
        home = Path(scratch)
        async with running_fake_upstream() as fake:
            fake.scenarios[OAUTH_TOKEN] = "agent"
            fake.agent_calls.update(CALLS)
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=home / "data",
                claude_code_home=home / "claude",
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
            url = f"http://{host}:{port}"
            try:
                key = (await app[ROUTER].keys.issue(1, "codex")).token
                codex_home, work = home / "codex", home / "work"
                codex_home.mkdir()
                work.mkdir()
                (codex_home / "config.toml").write_text(PROVIDER.format(url=url))
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(home),
                    "CODEX_HOME": str(codex_home),
                    "ROUTER_API_KEY": key,
                    **closed_proxy_env(),
                }
                process = await asyncio.create_subprocess_exec(
                    str(codex),
                    "exec",
                    *OFFLINE_FLAGS,
                    *(("-m", model) if model else ()),
                    "--skip-git-repo-check",
                    prompt,
                    cwd=work,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                out, err = await asyncio.wait_for(process.communicate(), timeout=180)
            finally:
                await runner.cleanup()
            return {
                "returncode": process.returncode,
                "stdout": out.decode(errors="replace"),
                "stderr": err.decode(errors="replace"),
                "sent": [
                    orjson.loads(request.body)
                    for request in fake.requests
                    if request.path == "/v1/messages"
                ],
            }


def main() -> None:
    codex, prompt, isolated = sys.argv[1], sys.argv[2], sys.argv[3] == "isolated"
    model = sys.argv[4] if len(sys.argv) > 4 else None
    if isolated:  # a fresh network namespace: bring its loopback up, nothing else exists
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result = asyncio.run(run(Path(codex), prompt, model))
    sys.stdout.write(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
