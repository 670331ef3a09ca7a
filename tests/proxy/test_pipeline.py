"""The proxy end to end: the official SDK and raw HTTP -> the router -> the fake upstream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import anthropic
import orjson
import pytest
from yarl import URL

from link_assistant_router.proxy.relay import UPSTREAM_LOST_EVENT
from tests.conftest import OAUTH_TOKEN, RunningRouter
from tests.fakes.upstream import TEXT_PIECES, USAGE, FakeUpstream, sse_events

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sdk(router: RunningRouter, key: str, *, bearer: bool = False) -> anthropic.AsyncAnthropic:
    if bearer:
        return anthropic.AsyncAnthropic(base_url=router.url, auth_token=key, max_retries=0)
    return anthropic.AsyncAnthropic(base_url=router.url, api_key=key, max_retries=0)


@pytest.mark.parametrize("bearer", [False, True], ids=["x-api-key", "bearer"])
async def test_sdk_message_reaches_upstream_with_the_router_credential(
    router: RunningRouter, fake_upstream: FakeUpstream, bearer: bool
) -> None:
    key = await router.issue_key()
    async with sdk(router, key, bearer=bearer) as client:
        message = await client.messages.create(**MESSAGE)  # type: ignore[call-overload]
    assert message.content[0].text == "".join(TEXT_PIECES)
    assert message.usage.cache_read_input_tokens == USAGE["cache_read_input_tokens"]
    seen = fake_upstream.requests[-1]
    assert seen.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
    assert "x-api-key" not in seen.headers
    assert "oauth-2025-04-20" in seen.headers["anthropic-beta"].split(",")
    assert key not in str(list(seen.headers.items()))


@pytest.mark.parametrize("bearer", [False, True], ids=["x-api-key", "bearer"])
async def test_sdk_stream_arrives_whole(router: RunningRouter, bearer: bool) -> None:
    key = await router.issue_key()
    async with (
        sdk(router, key, bearer=bearer) as client,
        client.messages.stream(**MESSAGE) as stream,  # type: ignore[arg-type]
    ):
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert texts == TEXT_PIECES
    assert final.usage.output_tokens == USAGE["output_tokens"]
    assert final.usage.input_tokens == USAGE["input_tokens"]


async def test_sse_bytes_are_relayed_unchanged(
    router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "sse"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["request-id"] == "req_fake_sse"
        body = await response.read()
    assert body == b"".join(sse_events())


async def test_request_is_forwarded_verbatim(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    # Odd spacing and key order: re-serializing would change these bytes.
    body = (
        b'{ "model":"claude-sonnet-5" ,'
        b'"system":[{"type":"text","text":"\\u00e9t\xc3\xa9"}],  "z":1}'
    )
    headers = [
        ("Authorization", f"Bearer {key}"),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14"),
        ("x-app", "cli"),
        ("User-Agent", "claude-cli/2.1.330 (external, sdk-cli)"),
        ("X-Claude-Code-Session-Id", "3f1c7a52-0000-4000-8000-000000000001"),
        ("anthropic-dangerous-direct-browser-access", "true"),
        ("x-unknown-extension", "kept"),
        ("Connection", "keep-alive, x-hop-by-hop"),
        ("x-hop-by-hop", "dropped"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
    ]
    url = URL(router.url + "/v1/messages?beta=true&x=%2Fy", encoded=True)
    async with http.post(url, data=body, headers=headers) as response:
        assert response.status == 200
    seen = fake_upstream.requests[-1]
    assert seen.body == body
    assert seen.raw_path == "/v1/messages?beta=true&x=%2Fy"
    assert seen.headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
    assert seen.headers.getall("anthropic-beta") == [
        "claude-code-20250219,interleaved-thinking-2025-05-14,oauth-2025-04-20"
    ]
    for name in ("anthropic-version", "x-app", "user-agent", "x-claude-code-session-id"):
        assert seen.headers[name] == dict((k.lower(), v) for k, v in headers)[name]
    assert seen.headers["anthropic-dangerous-direct-browser-access"] == "true"
    assert seen.headers["x-unknown-extension"] == "kept"
    for dropped in ("x-hop-by-hop", "keep-alive", "te", "x-api-key"):
        assert dropped not in seen.headers
    assert int(seen.headers["content-length"]) == len(body)


async def test_the_router_adds_no_headers_of_its_own(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    """A bare request (no user-agent, accept, accept-encoding or content-type, sent by hand so
    no client library adds them) reaches the upstream without them: aiohttp invents none."""
    key = await router.issue_key()
    body = b'{"model":"claude-sonnet-5","max_tokens":8,"messages":[]}'
    host, port = URL(router.url).host, URL(router.url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/messages HTTP/1.1\r\nHost: router\r\nx-api-key: "
        + key.encode()
        + b"\r\nanthropic-version: 2023-06-01\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200")
    seen = fake_upstream.requests[-1].headers
    assert seen["anthropic-version"] == "2023-06-01"
    for invented in ("user-agent", "accept", "accept-encoding", "content-type"):
        assert invented not in seen, invented


async def test_expect_continue_is_settled_by_the_router(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    body = b'{"padding": "' + b"p" * 50_000 + b'"}'
    async with http.post(
        router.url + "/v1/messages", data=body, headers={"x-api-key": key}, expect100=True
    ) as response:
        assert response.status == 200
    seen = fake_upstream.requests[-1]
    assert seen.body == body
    assert "expect" not in seen.headers


async def test_latest_prefix_maps_to_the_upstream_root(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    url = router.url + "/api/latest/anthropic/v1/messages/count_tokens?beta=true"
    async with http.post(url, data=b"{}", headers={"x-api-key": key}) as response:
        assert response.status == 200
    assert fake_upstream.requests[-1].raw_path == "/v1/messages/count_tokens?beta=true"


async def test_upstream_cookies_are_passed_on_but_never_sent_for_another_client(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    # By name: a cookie jar keeps no cookies from bare IP addresses, but the real API has a name.
    router = await start_router(
        upstream_base_url=fake_upstream.url.replace("127.0.0.1", "localhost")
    )
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "cookie"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 200
        assert "__cf_bm=fake-cloudflare-cookie" in response.headers["set-cookie"]
    # A second client, with no cookies of its own.
    async with (
        aiohttp.ClientSession() as other,
        other.post(router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}) as response,
    ):
        assert response.status == 200
    assert "cookie" not in fake_upstream.requests[-1].headers


async def test_get_with_query_is_proxied(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    async with http.get(router.url + "/v1/models?limit=1000", headers={"x-api-key": key}) as r:
        assert r.status == 200
    seen = fake_upstream.requests[-1]
    assert (seen.method, seen.raw_path, seen.body) == ("GET", "/v1/models?limit=1000", b"")


async def test_api_key_account_uses_x_api_key_without_oauth_beta(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, upstream_api_key="sk-ant-api03-test"
    )
    key = await router.issue_key()
    headers = {"x-api-key": key, "anthropic-beta": "claude-code-20250219"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 200
    seen = fake_upstream.requests[-1]
    assert seen.headers["x-api-key"] == "sk-ant-api03-test"
    assert "authorization" not in seen.headers
    assert seen.headers.getall("anthropic-beta") == ["claude-code-20250219"]


@pytest.mark.parametrize("scenario", ["error-429", "error-529", "error-401"])
async def test_upstream_errors_pass_through_unmodified(
    router: RunningRouter, http: aiohttp.ClientSession, scenario: str
) -> None:
    from tests.fakes.upstream import ERROR_BODIES

    status, extra_headers, error = ERROR_BODIES[scenario]
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": scenario}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == status
        assert orjson.loads(await response.read()) == error
        for name, value in extra_headers.items():
            assert response.headers[name] == value


async def test_large_response_is_streamed_through(
    router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "big"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 200
        document = orjson.loads(await response.read())
    assert len(document["padding"]) == 1024 * 1024


async def test_stream_events_reach_the_client_before_the_upstream_finishes(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "slow", "x-fake-delay-ms": "50"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        first_line = await response.content.readline()
        assert first_line == b"event: message_start\n"
        assert fake_upstream.streams_finished == 0  # nothing was held back until the end
        rest = await response.read()
    assert first_line + rest == b"".join(sse_events())
    assert fake_upstream.streams_finished == 1


async def test_upstream_drop_mid_stream_ends_with_an_error_event(
    router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "drop"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 200
        body = await response.read()
    events = sse_events()
    whole_events = b"".join(events[: len(events) // 2])
    assert body == whole_events + UPSTREAM_LOST_EVENT
    # The router is still healthy and serving.
    async with http.post(router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}) as r:
        assert r.status == 200


async def test_client_disconnect_cancels_the_upstream_stream(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "slow", "x-fake-delay-ms": "200"}
    async with aiohttp.ClientSession() as session:
        response = await session.post(router.url + "/v1/messages", data=b"{}", headers=headers)
        assert await response.content.readline() == b"event: message_start\n"
        response.close()  # the client goes away mid-stream
    await asyncio.wait_for(fake_upstream.cancelled.wait(), timeout=10)
    assert fake_upstream.streams_finished == 0


async def test_clients_leaving_at_any_point_are_not_errors(
    router: RunningRouter, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """Streams cut after every possible number of bytes: before, during and after the body."""
    key = await router.issue_key()
    host, port = router.url.removeprefix("http://").split(":")
    request = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {host}\r\nx-api-key: {key}\r\n"
        "content-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n"
        '{"stream":true}'
    ).encode()
    whole = len(b"".join(sse_events()))

    async def leave_after(count: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readexactly(count)
        writer.transport.abort()  # a reset, as when a client process dies

    cuts = [0, 1, 100, *range(whole - 200, whole + 400, 7)]
    await asyncio.wait_for(asyncio.gather(*(leave_after(count) for count in cuts)), timeout=30)
    await asyncio.sleep(0.2)  # let the router notice every reset

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + "/v1/messages", data=b'{"stream":true}', headers={"x-api-key": key}
        ) as response,
    ):
        assert response.status == 200
        assert await response.read() == b"".join(sse_events())


async def test_upstream_down_is_a_502_with_a_request_id(
    start_router: StartRouter, http: aiohttp.ClientSession
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    router = await start_router(upstream_base_url=f"http://127.0.0.1:{port}")
    key = await router.issue_key()
    async with http.post(router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}) as r:
        assert r.status == 502
        document = await r.json()
        assert r.headers["request-id"] == document["request_id"]
    assert document["type"] == "error"
    assert document["error"]["type"] == "api_error"
    assert "cannot connect to the upstream" in document["error"]["message"]


async def test_upstream_silence_before_answering_is_a_504(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, upstream_idle_timeout_s=0.3)
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "hang"}
    async with http.post(router.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.status == 504
        assert (await response.json())["error"]["type"] == "timeout_error"


async def test_upstream_connect_timeout_is_a_504(
    start_router: StartRouter, http: aiohttp.ClientSession
) -> None:
    # A listener whose backlog is full leaves further connection attempts unanswered.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        host, port = listener.getsockname()
        router = await start_router(
            upstream_base_url=f"http://{host}:{port}", upstream_connect_timeout_s=0.3
        )
        key = await router.issue_key()
        async with http.post(
            router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}
        ) as response:
            assert response.status == 504
            document = await response.json()
        assert document["error"]["type"] == "timeout_error"
        assert "connecting to the upstream timed out" in document["error"]["message"]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_oversized_body_is_refused_before_it_is_read(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, max_request_body_mb=0.01)
    key = await router.issue_key()
    big = b"x" * 20_000
    async with http.post(router.url + "/v1/messages", data=big, headers={"x-api-key": key}) as r:
        assert r.status == 413
        assert (await r.json())["error"]["type"] == "request_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 1000

    async with http.post(
        router.url + "/v1/messages", data=chunked(), headers={"x-api-key": key}
    ) as r:
        assert r.status == 413
    assert fake_upstream.requests == []


async def test_credential_file_change_is_picked_up_without_restart(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    from tests.conftest import claude_login, write_credentials

    key = await router.issue_key()
    write_credentials(router.parts.settings.claude_code_home, claude_login("sk-ant-oat01-rotated"))
    await asyncio.sleep(1.1)  # the home is re-checked at most once a second
    async with http.post(router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}) as r:
        assert r.status == 200
    assert fake_upstream.requests[-1].headers["authorization"] == "Bearer sk-ant-oat01-rotated"


async def test_missing_login_is_a_502_that_points_to_doctor(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    key = await router.issue_key()
    async with http.post(router.url + "/v1/messages", data=b"{}", headers={"x-api-key": key}) as r:
        assert r.status == 502
        message = (await r.json())["error"]["message"]
    assert "doctor" in message
    assert fake_upstream.requests == []
