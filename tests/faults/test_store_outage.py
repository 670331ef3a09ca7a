"""The store goes away under steady traffic (PostgreSQL stopped, or frozen with SIGSTOP): the
router keeps serving keys it has seen, limits follow LIMITS_WHEN_STORE_DOWN, /ready and the
admin API answer within their deadlines, and no ledger row is lost once the store is back.

Bounds on time here are generous ones a healthy router meets by far; what they catch is a
router that hangs for as long as the store does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.faults.conftest import PrivatePostgres, Served

MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}
OUTAGE_S = 6.0
ServeOn = Callable[..., Awaitable[Served]]


@dataclass
class Traffic:
    """Requests sent in a steady stream: (key name, status, seconds taken, when sent)."""

    results: list[tuple[str, int, float, float]] = field(default_factory=list)

    def during(self, start: float, end: float, key: str) -> list[int]:
        return [status for name, status, _, at in self.results if name == key and start <= at < end]


async def steady(
    served: Served, keys: dict[str, str], traffic: Traffic, stop: asyncio.Event
) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            for name, key in keys.items():
                sent = time.monotonic()
                async with http.post(
                    served.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
                ) as response:
                    await response.read()
                traffic.results.append((name, response.status, time.monotonic() - sent, sent))
            await asyncio.sleep(0.05)


async def ready(served: Served, via_admin: bool = False) -> tuple[int, dict[str, Any], float]:
    sent = time.monotonic()
    base = served.admin_url if via_admin else served.url
    async with aiohttp.ClientSession() as http, http.get(base + "/ready") as response:
        return response.status, await response.json(), time.monotonic() - sent


async def admin_call(served: Served) -> tuple[int, float]:
    sent = time.monotonic()
    async with (
        aiohttp.ClientSession() as http,
        http.get(served.admin_url + "/api/tokens/list") as response,
    ):
        await response.read()
        return response.status, time.monotonic() - sent


async def ledger_requests(served: Served, expected: int) -> int:
    """The ledger's request count once it reaches ``expected`` (rows follow their requests by
    up to half a second), or what it holds after 15 s."""
    count = -1
    for _ in range(75):
        async with (
            aiohttp.ClientSession() as http,
            http.get(served.admin_url + "/v1/usage") as response,
        ):
            if response.status == 200:
                count = int((await response.json())["totals"]["requests"])
                if count >= expected:
                    return count
        await asyncio.sleep(0.2)
    return count


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
@pytest.mark.parametrize("when_down", ["local", "refuse"])
async def test_the_router_keeps_serving_while_the_store_is_away(
    private_postgres: PrivatePostgres, serve_on: ServeOn, outage: str, when_down: str
) -> None:
    served = await serve_on(
        private_postgres.url,
        STORE_TIMEOUT_S="1",
        KEY_CACHE_TTL_S="0.5",
        LIMITS_WHEN_STORE_DOWN=when_down,
    )
    keys = {
        "plain": await served.issue(),
        "limited": await served.issue(
            "--rpm", "100000", "--concurrency", "50", "--budget", "day=100000000"
        ),
    }
    traffic, stop = Traffic(), asyncio.Event()
    sender = asyncio.create_task(steady(served, keys, traffic, stop))
    try:
        await asyncio.sleep(1.5)  # the keys' records and windows are read while all is well
        (private_postgres.stop if outage == "stopped" else private_postgres.freeze)()
        began = time.monotonic()
        await asyncio.sleep(1.5)
        status, report, took = await ready(served)
        assert (status, report["status"], report["store"]) == (200, "degraded", "unavailable")
        assert took < 5
        status, took = await admin_call(served)
        assert status == 503 and took < 5  # an answer, not a hang
        await asyncio.sleep(OUTAGE_S - 1.5)
        ended = time.monotonic()
        (private_postgres.start if outage == "stopped" else private_postgres.thaw)()
        await asyncio.sleep(3)
        assert (await ready(served))[1]["status"] == "ready"
    finally:
        stop.set()
        await sender
    during_plain = traffic.during(began + 1.5, ended, "plain")
    during_limited = traffic.during(began + 1.5, ended, "limited")
    assert len(during_plain) > 10
    assert set(during_plain) == {200}  # a key seen before the outage keeps working
    assert set(during_limited) == ({200} if when_down == "local" else {503})
    assert max(took for _, _, took, _ in traffic.results) < 10  # nothing waited out the outage
    assert set(traffic.during(ended + 3, time.monotonic(), "plain")) <= {200}
    # Every request is a ledger row, those of the outage included.
    assert await ledger_requests(served, len(traffic.results)) == len(traffic.results)
