"""Malformed and smuggling requests, sent raw: a clear 4xx (never a 500), nothing reaches the
upstream, the router stays up, and neither the answers nor the log quote a credential."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import OAUTH_TOKEN
from tests.fakes.upstream import FakeUpstream
from tests.hostile.conftest import ServedRouter
from tests.hostile.raw import send_raw

BODY = b'{"model":"claude-sonnet-5","max_tokens":8,"messages":[{"role":"user","content":"x"}]}'


def malformed(key: str) -> dict[str, bytes]:
    k = key.encode()
    start = b"POST /v1/messages HTTP/1.1\r\nHost: a\r\nx-api-key: " + k + b"\r\n"
    return {
        "bad header name": start + b"Bad Header: v\r\n\r\n",
        "control byte in a value": start + b"x-note: a\x01b\r\nContent-Length: 0\r\n\r\n",
        "control byte in the key": b"POST /v1/messages HTTP/1.1\r\nHost: a\r\nx-api-key: "
        + k
        + b"\x01\r\n\r\n",
        "CL and TE": start
        + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"0\r\n\r\nGET /v1/models HTTP/1.1\r\n\r\n",
        "two different CLs": start + b"Content-Length: 3\r\nContent-Length: 40\r\n\r\n" + BODY,
        "chunk size overflow": start
        + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n",
        "chunk size not hex": start + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n",
        "TE obfuscated": start + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "bytes in the request line": b"POST /v1/mes\xffsages\x00 HTTP/1.1\r\nx-api-key: "
        + k
        + b"\r\n\r\n",
        "huge header": start + b"x-pad: " + b"a" * 70_000 + b"\r\n\r\n",
        "not HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + k,
    }


@pytest.mark.parametrize(
    "name",
    list(malformed("la_sk_x")),
)
async def test_malformed_requests_get_a_4xx_and_reach_nothing(
    served: ServedRouter, fake_upstream: FakeUpstream, name: str
) -> None:
    answer = await send_raw(served.url, malformed(served.key)[name])
    assert answer.status is None or 400 <= answer.status < 500, (name, answer.head)
    assert served.key.encode() not in answer.body
    assert served.key[6:20].encode() not in answer.head.encode() + answer.body
    assert fake_upstream.requests == []
    async with aiohttp.ClientSession() as http, http.get(served.url + "/health") as response:
        assert response.status == 200
    log = await served.stop()
    assert served.key not in log and served.key[6:] not in log
    assert OAUTH_TOKEN not in log
    assert "Traceback" not in log


async def test_an_announced_body_over_the_limit_gets_413_without_100_continue(
    served: ServedRouter, fake_upstream: FakeUpstream
) -> None:
    head = (
        b"POST /v1/messages HTTP/1.1\r\nHost: a\r\nx-api-key: " + served.key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000000\r\nConnection: close\r\n\r\n"
    )
    answer = await send_raw(served.url, head)
    assert answer.status == 413
    assert not answer.continued
    assert b"request_too_large" in answer.body
    assert fake_upstream.requests == []


async def test_an_announced_body_within_the_limit_gets_100_continue(served: ServedRouter) -> None:
    head = (
        b"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: a\r\nx-api-key: "
        + served.key.encode()
        + b"\r\nExpect: 100-continue\r\nContent-Length: "
        + str(len(BODY)).encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", int(served.url.rsplit(":", 1)[1]))
    writer.write(head)
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == (
        b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(BODY)
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 200")
