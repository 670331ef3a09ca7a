"""Real OpenAI-format clients against the router, the fake upstream behind it, all on this machine.

Nothing a client does may reach another host: the proxy variables point at a loopback port
nothing listens on (with only the router's address exempt), telemetry and tracing are off, and
the Codex CLI runs in a network namespace of its own where the machine allows it
(``codex.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.closed import closed_proxy_env
from tests.conftest import OAUTH_TOKEN
from tests.fakes.upstream import FakeUpstream

WEATHER = "18 C"
"""What the clients' get_weather tool answers; the fake's agent answers ``Done: 18 C``."""


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's HTTP clients reach loopback only; the SDKs' tracing is off."""
    for name, value in closed_proxy_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    yield


@pytest.fixture
def agent(fake_upstream: FakeUpstream) -> FakeUpstream:
    """The fake upstream as a small agent that calls get_weather once, then answers."""
    fake_upstream.scenarios[OAUTH_TOKEN] = "agent"
    fake_upstream.agent_calls["get_weather"] = {"city": "Paris"}
    return fake_upstream
