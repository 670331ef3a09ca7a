"""An open stream does not keep its request's body.

Claude Code sends 100 KB and more with every request and reads the answer for minutes; with
thousands of streams open, a body kept per stream is most of the router's memory (the capacity
benchmark measured 122 KB per open stream with it, 32 KB without). The body is needed until an
account's answer is chosen (failover sends it again), not after.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import RunningRouter
from tests.fakes.upstream import sse_events

# Under 1 MiB, above which aiohttp warns about sending bytes in one write (tests make warnings
# errors); far above any other block the router allocates per request.
BODY_BYTES = 15 * 65536
CHUNK = b"x" * 65536


class HoldingUpstream:
    """Reads a request's body to the end without keeping it, writes the stream's opening
    events, then holds the stream open until ``release`` is set."""

    def __init__(self) -> None:
        self.received = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        while chunk := await request.content.readany():
            self.received += len(chunk)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        events = sse_events()
        await response.write(b"".join(events[:3]))
        await self.release.wait()
        await response.write(b"".join(events[3:]))
        await response.write_eof()
        return response


VERTEX = "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-haiku-5-5"

# (path, the body up to its one long string): Claude's own route (the body goes on as it is),
# Vertex's (the router rewrites the body), Chat Completions and Responses (translated).
MESSAGES = b'"max_tokens":16,"messages":[{"role":"user","content":"'
ROUTES = {
    "messages": ("/v1/messages", b'{"model":"claude-haiku-5-5","stream":true,' + MESSAGES),
    "vertex": (
        VERTEX + ":streamRawPredict",
        b'{"anthropic_version":"vertex-2023-10-16",' + MESSAGES,
    ),
    "chat": ("/v1/chat/completions", b'{"model":"claude-haiku-5-5","stream":true,' + MESSAGES),
    "responses": (
        "/v1/responses",
        b'{"model":"claude-haiku-5-5","stream":true,"max_output_tokens":16,"input":"',
    ),
}


LAST_EVENT = {
    "messages": b"message_stop",
    "vertex": b"message_stop",
    "chat": b"[DONE]",
    "responses": b"response.completed",
}


async def big_body(opening: bytes) -> AsyncIterator[bytes]:
    """A request of ``BODY_BYTES`` whose one long string is the user's message, made a chunk
    at a time (the test keeps none)."""
    yield opening
    for _ in range(BODY_BYTES // len(CHUNK)):
        yield CHUNK
    yield b'"}' if opening.endswith(b'"input":"') else b'"}]}'


def largest_blocks(snapshot: tracemalloc.Snapshot, at_least: int) -> list[int]:
    return sorted((trace.size for trace in snapshot.traces if trace.size >= at_least), reverse=True)


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_an_open_stream_does_not_hold_its_request_body(
    start_router: Callable[..., Awaitable[RunningRouter]], route: str
) -> None:
    path, opening = ROUTES[route]
    upstream = HoldingUpstream()
    app = web.Application()
    app.router.add_post("/v1/messages", upstream.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    router = await start_router(upstream_base_url=f"http://{host}:{port}")
    token = await router.issue_key()
    tracemalloc.start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                router.url + path,
                data=big_body(opening),
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            ) as response,
        ):
            assert response.status == 200, await response.text()
            assert (await response.content.readuntil(b"\n\n")).strip()  # the stream is open
            assert upstream.received > BODY_BYTES  # the whole body went upstream
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            held = largest_blocks(snapshot, at_least=BODY_BYTES // 2)
            upstream.release.set()
            rest = await response.read()
    finally:
        tracemalloc.stop()
        await runner.cleanup()
    assert LAST_EVENT[route] in rest  # and the stream came whole once the upstream went on
    assert held == [], f"blocks of {held} bytes stay allocated while the stream is open"
