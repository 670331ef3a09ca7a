"""The Codex CLI (npm ``@openai/codex``, pinned) with the stock provider config, ``codex exec``
completing a task that needs one tool round trip (README: "Codex CLI").

Installed from npm by the test itself into ``.clients/`` (skipped, saying so, only where npm is
missing; CI has it). The run is ``tests/clients/codex.py`` in a process of its own, inside a
fresh network namespace when this machine allows one (root): there, only loopback exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clients.codex import codex_binary
from tests.clients.harness import ROOT, run_module

PROMPT = "What is 6 times 7? Use a tool."


@pytest.fixture(scope="session")
def codex() -> Path:
    try:
        return codex_binary()
    except FileNotFoundError:
        pytest.skip("npm is not installed: the Codex CLI test installs @openai/codex with it")


def codex_exec(codex: Path, *model: str) -> dict[str, Any]:
    result = run_module("tests.clients.codex", str(codex), PROMPT, "{mode}", *model)
    assert result["returncode"] == 0, result["stderr"][-3000:]
    return result


def test_codex_with_its_default_model_runs_its_exec_tool_and_answers(codex: Path) -> None:
    result = codex_exec(codex)
    assert "Done:" in result["stdout"] and "42" in result["stdout"]
    first, second = result["sent"]
    names = [tool["name"] for tool in first["tools"]]
    assert "functions__exec" in names and "collaboration__spawn_agent" in names
    exec_tool = first["tools"][names.index("functions__exec")]
    assert "lark grammar" in exec_tool["description"]
    assert first["model"] == "claude-opus-5-5" and first["max_tokens"] == 128_000
    # Codex gave the sealed reasoning back: the thinking block opens its assistant turn again.
    thinking, call = second["messages"][-2]["content"]
    assert thinking["type"] == "thinking" and call["name"] == "functions__exec"
    assert "42" in str(second["messages"][-1]["content"])


def test_codex_with_an_older_model_runs_a_shell_command_and_answers(codex: Path) -> None:
    result = codex_exec(codex, "gpt-5.1-codex")
    assert "Done:" in result["stdout"] and "42" in result["stdout"]
    first, second = result["sent"]
    names = [tool["name"] for tool in first["tools"]]
    assert "exec_command" in names and "multi_agent_v1__spawn_agent" in names
    assert "web_search" not in names  # Codex asks for cached search only: left out
    assert first["model"] == "claude-sonnet-5-5"
    # No thinking block to give back: Sonnet 5.5's lowest thinking setting.
    assert second["thinking"] == {"type": "between_tools"}
    assert "42" in str(second["messages"][-1]["content"])


def test_the_readme_shows_the_config_these_runs_use() -> None:
    from tests.clients.codex import PROVIDER

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert PROVIDER.format(url="http://router-host:8080") in readme
