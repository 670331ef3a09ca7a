"""Claude Code against the router: the pinned version, and one ``claude -p`` run with the
router and the fake upstream beside it.

``python -m tests.clients.claude_code CLAUDE PROMPT MODE KEY_VARIABLE`` is the run: the fake
upstream plays a small agent that calls Claude Code's ``Bash`` tool once, the router issues a
key, and ``claude -p`` runs with ``ANTHROPIC_BASE_URL`` at the router and the key in
``KEY_VARIABLE`` (``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN``); it prints what happened as
JSON: Claude Code's output, what reached the upstream and the ledger's rows. The test runs it
under ``unshare -n`` where it may (``harness.run_module``); everywhere the proxy variables point
at a closed loopback port and Claude Code's telemetry, error reporting, update checks and other
non-essential traffic are off.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.clients.harness import loopback_up, npm_binary, router_and_agent, run_client

CLAUDE_CODE_VERSION = "2.1.332"
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
    return npm_binary("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION, "claude")


async def run(claude: Path, prompt: str, key_variable: str) -> dict[str, Any]:
    from link_assistant_router.storage.records import UsageQuery

    async with router_and_agent(CALLS) as bench:
        key = await bench.router.keys.issue(1, "claude-code")
        work = bench.home / "work"
        work.mkdir()
        env = {
            "HOME": str(bench.home),  # no login of the client's own: only the router's key
            "ANTHROPIC_BASE_URL": bench.url,
            key_variable: key.token,
            "IS_SANDBOX": "1",  # tools may run as root here (CI runs as root)
            **OFFLINE_ENV,
        }
        command = [str(claude), "-p", prompt, "--output-format", "json", "--allowedTools", "Bash"]
        returncode, out, err = await run_client(command, work, env)
        await bench.router.ledger.flush()
        rows = await bench.router.store.recent_usage(UsageQuery(key_id=key.record.id))
        return {
            "returncode": returncode,
            "stdout": out,
            "stderr": err,
            "token": key.token,
            "sent": [
                {
                    "path": request.path,
                    "query": request.query_string,
                    "headers": {str(k).lower(): v for k, v in request.headers.items()},
                    "body": orjson.loads(request.body) if request.body else None,
                }
                for request in bench.fake.requests
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
    claude, prompt, mode, key_variable = sys.argv[1:5]
    loopback_up(mode)
    result = asyncio.run(run(Path(claude), prompt, key_variable))
    sys.stdout.write(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
