"""Requests in flight to the upstream are bounded: one that finds every slot taken waits at
most UPSTREAM_POOL_TIMEOUT_S and gets a clear 503; every request gives its slot back, however
it ended."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from tests.conftest import RunningRouter, ledger_rows
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


async def post(
    http: aiohttp.ClientSession, router: RunningRouter, key: str, **headers: str
) -> tuple[int, CIMultiDict[str], bytes]:
    body = orjson.dumps({**MESSAGE, "stream": "stream" in headers.get("x-fake-scenario", "")})
    async with http.post(
        router.url + "/v1/messages", data=body, headers={"x-api-key": key, **headers}
    ) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_a_request_that_finds_every_slot_taken_gets_503_not_an_endless_wait(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(
        upstream_base_url=fake_upstream.url, upstream_max_connections=2, upstream_pool_timeout_s=0.3
    )
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        hanging = [
            asyncio.create_task(post(http, router, key, **{"x-fake-scenario": "hang"}))
            for _ in range(2)
        ]
        for _ in range(500):
            if router.parts.upstream.in_flight == 2:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.01)
        status, headers, body = await post(http, router, key)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert b"UPSTREAM_MAX_CONNECTIONS" in body
        async with http.get(router.admin_url + "/metrics") as response:
            metrics = await response.text()
        assert "lar_upstream_busy_total 1.0" in metrics
        assert "lar_upstream_in_flight 2.0" in metrics
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)
        for _ in range(100):  # the client left: its upstream requests end, their slots free
            if router.parts.upstream.in_flight == 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.02)
        assert (await post(http, router, key))[0] == 200


async def test_every_request_gives_its_slot_back_however_it_ended(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, upstream_max_connections=3)
    key = await router.issue_key()
    endings = ["json", "sse", "error-529", "error-429-scoped", "drop", "big", "count"]
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # more requests than slots: a leak would block the later ones
            for ending in endings:
                if ending == "count":
                    async with http.post(
                        router.url + "/v1/messages/count_tokens",
                        json=MESSAGE,
                        headers={"x-api-key": key},
                    ) as response:
                        assert response.status == 200
                    continue
                status, _, _ = await post(http, router, key, **{"x-fake-scenario": ending})
                assert status != 503, ending
    assert router.parts.upstream.in_flight == 0  # type: ignore[attr-defined]


async def test_a_stream_that_stalls_after_its_headers_is_a_timeout_named_as_such(
    start_router: StartRouter, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    fake_upstream.stall_after = 0  # the headers, then silence
    router = await start_router(upstream_base_url=fake_upstream.url, upstream_idle_timeout_s=0.3)
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        status, _, body = await post(http, router, key, **{"x-fake-scenario": "sse"})
    assert status == 504
    assert orjson.loads(body)["error"]["type"] == "timeout_error"
    assert "sent its headers and then nothing for 0.3 s" in caplog.text
    (row,) = await ledger_rows(router, 1)
    assert row["error_type"] == "timeout_error"
