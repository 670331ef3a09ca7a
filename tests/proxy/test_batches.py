"""Message batches through the router (BATCHES=true): every request in a batch passes the key's
model limits, the batch's worst case its budgets, its results are counted once, for the key
that created it, and no other key can reach it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import RunningRouter, ledger_rows
from tests.fakes.batches import BATCH_USAGE
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
API_KEY = "sk-ant-api03-batches-account"


def batch(*models: str, max_tokens: int = 100) -> dict[str, Any]:
    return {
        "requests": [
            {
                "custom_id": f"r{number}",
                "params": {
                    "model": model,
                    "max_tokens": max_tokens,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            }
            for number, model in enumerate(models)
        ]
    }


@pytest.fixture
async def batching(start_router: StartRouter, fake_upstream: FakeUpstream) -> RunningRouter:
    return await start_router(
        upstream_base_url=fake_upstream.url,
        upstream_api_key=API_KEY,
        routing_strategy="round-robin",
        batches=True,
    )


async def call(
    router: RunningRouter, method: str, path: str, key: str, body: Any = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else (orjson.dumps(body) if body is not None else None)
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, router.url + path, data=data, headers={"x-api-key": key}) as r,
    ):
        raw = await r.read()
    try:
        return r.status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return r.status, raw


async def test_batches_are_refused_unless_enabled(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    status, _ = await call(
        router, "POST", "/v1/messages/batches", await router.issue_key(), batch("x")
    )
    assert status == 404
    assert fake_upstream.requests == []


async def test_every_request_in_a_batch_passes_the_key_s_model_limits(
    batching: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    haiku = await batching.parts.keys.issue(1, "haiku", limits={"models": ["claude-haiku-*"]})
    mixed = batch("claude-haiku-4-5", "claude-opus-5", "claude-haiku-4-5")
    status, error = await call(batching, "POST", "/v1/messages/batches", haiku.token, mixed)
    assert status == 403 and "requests[1]" in error["error"]["message"]
    twice = (
        b'{"requests":[{"custom_id":"a","params":{"model":"claude-haiku-4-5",'
        b'"model":"claude-opus-5","max_tokens":5,"messages":[]}}]}'
    )
    assert (await call(batching, "POST", "/v1/messages/batches", haiku.token, twice))[0] == 400
    assert fake_upstream.requests == []
    status, made = await call(
        batching, "POST", "/v1/messages/batches", haiku.token, batch("claude-haiku-4-5")
    )
    assert status == 200 and made["id"].startswith("msgbatch_")


async def test_a_batch_s_worst_case_must_fit_the_budgets(
    batching: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    budgeted = await batching.parts.keys.issue(1, "b", limits={"budgets": {"day": 50_000}})
    huge = batch(*["claude-sonnet-5"] * 100, max_tokens=4096)
    status, error = await call(batching, "POST", "/v1/messages/batches", budgeted.token, huge)
    assert status == 429
    assert "409,600 tokens" in error["error"]["message"]
    assert fake_upstream.requests == []
    half = batch(*["claude-sonnet-5"] * 10, max_tokens=3000)  # 30,000
    assert (await call(batching, "POST", "/v1/messages/batches", budgeted.token, half))[0] == 200
    # The first batch is not counted yet: its worst case is held against the budget.
    status, error = await call(batching, "POST", "/v1/messages/batches", budgeted.token, half)
    assert status == 429 and "30,000 more" in error["error"]["message"]


async def test_results_are_counted_once_for_the_key_that_created_the_batch(
    batching: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    owner = await batching.parts.keys.issue(1, "owner")
    other = await batching.parts.keys.issue(1, "other")
    models = ("claude-sonnet-5", "claude-haiku-4-5", "claude-sonnet-5")
    status, made = await call(batching, "POST", "/v1/messages/batches", owner.token, batch(*models))
    assert status == 200
    path = f"/v1/messages/batches/{made['id']}"
    # Another key cannot see, read, cancel or delete it; the upstream never hears of it.
    before = len(fake_upstream.requests)
    for method, suffix in [("GET", ""), ("GET", "/results"), ("POST", "/cancel"), ("DELETE", "")]:
        assert (await call(batching, method, path + suffix, other.token))[0] == 404
    assert len(fake_upstream.requests) == before
    # Every call on it goes to the account that holds it (round-robin would move it).
    for _ in range(3):
        assert (await call(batching, "GET", path, owner.token))[0] == 200
    status, results = await call(batching, "GET", path + "/results", owner.token)
    assert status == 200 and results.count(b"succeeded") == 3
    assert (await call(batching, "GET", path + "/results", owner.token))[0] == 200  # again
    rows = [
        row
        for row in await ledger_rows(batching, 7)
        if row["route"].endswith("/results") and row["status"] == 200
    ]
    counted = {row["model"]: row for row in rows if row["input_tokens"]}
    assert len([row for row in rows if row["input_tokens"]]) == 2  # the second read counts none
    assert set(counted) == {"claude-sonnet-5", "claude-haiku-4-5"}
    assert counted["claude-sonnet-5"]["input_tokens"] == 2 * BATCH_USAGE["input_tokens"]
    assert counted["claude-haiku-4-5"]["output_tokens"] == BATCH_USAGE["output_tokens"]
    # At the Batches API's half price: Sonnet 5 2 * (30 * $2 + 7 * $10 + 100 * $0.20) per
    # million / 2; Haiku 4.5 (30 * $1 + 7 * $5 + 100 * $0.10) / 2 = 37.5, rounded up once.
    assert counted["claude-sonnet-5"]["cost_micros"] == 150
    assert counted["claude-haiku-4-5"]["cost_micros"] == 38
    assert {row["key_id"] for row in rows} == {owner.record.id}
    # The list shows the key's own batches only.
    status, listed = await call(batching, "GET", "/v1/messages/batches", other.token)
    assert (status, listed["data"]) == (200, [])
    status, listed = await call(batching, "GET", "/v1/messages/batches", owner.token)
    assert [b["id"] for b in listed["data"]] == [made["id"]]
    assert (await call(batching, "DELETE", path, owner.token))[0] == 200
