"""The Codex CLI against the router: installing the pinned version, and one ``codex exec`` run
with the router and the fake upstream beside it.

``python -m tests.clients.codex CODEX PROMPT MODE [MODEL]`` is the run: it starts the fake
upstream (as a small agent that calls Codex's ``exec`` tool once) and the router on 127.0.0.1
(``harness.router_and_agent``), writes a
``$CODEX_HOME/config.toml`` with only the documented provider block, runs ``codex exec`` with
the key in the provider's ``env_key`` variable, and prints what happened as JSON. The test
runs it under ``unshare -n`` where it may (root, ``harness.run_module``), so that the namespace
has nothing but a loopback interface: then neither Codex nor anything else in the run can reach
another host. Everywhere
the proxy variables point at a closed loopback port, and Codex's analytics, update check and
plugin sync (which fetches from GitHub) are off through ``-c`` flags.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.clients.harness import loopback_up, npm_binary, router_and_agent, run_client

CODEX_VERSION = "0.169.0"
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
    return npm_binary("@openai/codex", CODEX_VERSION, "codex")


async def run(codex: Path, prompt: str, model: str | None) -> dict[str, Any]:
    async with router_and_agent(CALLS) as bench:
        key = (await bench.router.keys.issue(1, "codex")).token
        codex_home, work = bench.home / "codex", bench.home / "work"
        codex_home.mkdir()
        work.mkdir()
        (codex_home / "config.toml").write_text(PROVIDER.format(url=bench.url))
        env = {"HOME": str(bench.home), "CODEX_HOME": str(codex_home), "ROUTER_API_KEY": key}
        command = [
            str(codex),
            "exec",
            *OFFLINE_FLAGS,
            *(("-m", model) if model else ()),
            "--skip-git-repo-check",
            prompt,
        ]
        returncode, out, err = await run_client(command, work, env)
        return {
            "returncode": returncode,
            "stdout": out,
            "stderr": err,
            "sent": [
                orjson.loads(request.body)
                for request in bench.fake.requests
                if request.path == "/v1/messages"
            ],
        }


def main() -> None:
    codex, prompt, mode = sys.argv[1:4]
    model = sys.argv[4] if len(sys.argv) > 4 else None
    loopback_up(mode)
    result = asyncio.run(run(Path(codex), prompt, model))
    sys.stdout.write(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
