"""Odd upstream answers: what the client cannot be sent is dropped, not the connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest

from tests.conftest import RunningRouter
from tests.fakes.upstream import message_json
from tests.hostile.raw import RawUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


async def test_an_upstream_header_with_control_bytes_is_dropped_and_said(
    start_router: StartRouter, caplog: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps(message_json())
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"x-upstream-note: fine\r\nx-upstream-odd: a\x01b\x7fc\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    async with RawUpstream(answer) as upstream:
        router = await start_router(upstream_base_url=upstream.url)
        key = await router.issue_key()
        async with (
            aiohttp.ClientSession() as http,
            http.post(router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}) as r,
        ):
            assert r.status == 200
            assert (await r.json())["type"] == "message"
            assert r.headers["x-upstream-note"] == "fine"
            assert "x-upstream-odd" not in r.headers
    assert "x-upstream-odd" in caplog.text
