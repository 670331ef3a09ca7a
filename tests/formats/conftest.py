"""Fixtures of the client-format tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.conftest import RunningRouter


@pytest.fixture
async def client(router: RunningRouter) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official openai SDK, pointed at the router with a fresh key (no retries)."""
    key = await router.issue_key()
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0)
    yield client
    await client.close()
