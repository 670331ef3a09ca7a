"""Claude Code (npm ``@anthropic-ai/claude-code``, pinned) through the router, end to end:
``claude -p`` with a task that needs one round trip of its Bash tool (README: "Use it from
Claude Code").

Installed from npm by the test itself into ``.clients/`` (skipped, saying so, only where npm is
missing; CI has it). The run is ``tests/clients/claude_code.py`` in a process of its own, inside
a fresh network namespace when this machine allows one (root): there, only loopback exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.clients.claude_code import CLAUDE_CODE_VERSION, claude_binary
from tests.clients.harness import run_module
from tests.conftest import OAUTH_TOKEN

PROMPT = "What is 6 times 7? Use a tool."


@pytest.fixture(scope="session")
def claude() -> Path:
    try:
        return claude_binary()
    except FileNotFoundError:
        pytest.skip("npm is not installed: the Claude Code test installs it with npm")


def claude_p(claude: Path, key_variable: str) -> dict[str, Any]:
    result = run_module("tests.clients.claude_code", str(claude), PROMPT, "{mode}", key_variable)
    assert result["returncode"] == 0, result["stderr"][-3000:]
    return result


@pytest.mark.parametrize("key_variable", ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"])
def test_claude_p_runs_its_bash_tool_through_the_router_and_answers(
    claude: Path, key_variable: str
) -> None:
    result = claude_p(claude, key_variable)
    answer = orjson.loads(result["stdout"])
    assert answer["is_error"] is False and answer["result"] == "Done: 42"
    assert answer["num_turns"] == 2

    first, second = result["sent"]
    for sent in (first, second):
        assert sent["path"] == "/v1/messages" and sent["query"] == "beta=true"
        headers = sent["headers"]
        # The owner's credential goes upstream; the router's key does not.
        assert headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
        assert "x-api-key" not in headers
        assert result["token"] not in orjson.dumps(sent).decode()
        # Claude Code's own headers pass as they are, and the subscription's beta is added.
        assert headers["user-agent"].startswith(f"claude-cli/{CLAUDE_CODE_VERSION} ")
        assert headers["x-app"] == "cli"
        betas = headers["anthropic-beta"].split(",")
        assert "claude-code-20250219" in betas and "oauth-2025-04-20" in betas
    assert "Bash" in [tool["name"] for tool in first["body"]["tools"]]
    call, answered = second["body"]["messages"][-2:]
    assert call["content"][-1]["type"] == "tool_use" and call["content"][-1]["name"] == "Bash"
    assert "42" in str(answered["content"])

    # Both requests are in the ledger, with Claude Code's session and client.
    rows = result["ledger"]
    assert [row["status"] for row in rows] == [200, 200]
    assert {row["session"] for row in rows} == {answer["session_id"]}
    assert {row["client"] for row in rows} == {"claude-cli"}
    assert result["token"] not in result["stdout"] + result["stderr"]
