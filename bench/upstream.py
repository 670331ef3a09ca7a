"""A fast fake Anthropic upstream for the benchmark: ``POST /v1/messages`` on 127.0.0.1.

Every response is built once at start-up; a request costs reading its body, one regex search and
writing the prepared bytes. It answers:

- a body with ``"stream": true`` (bodies over 256 KB: in their last 256 bytes): a chunked
  ``text/event-stream`` of 200 Anthropic-shaped events (message_start, content_block_start,
  ping, text deltas, content_block_stop, message_delta with usage, message_stop), several events
  per write, as fast as the socket takes them;
- any other body (a small request or a 1 MB one): a ~500-byte Messages JSON response.

A streaming request with ``x-bench-interval-ms`` and ``x-bench-events`` headers gets a *paced*
stream instead, like a model generating (bench/capacity.py, bench/soak.py): the opening events
(message_start, content_block_start, ping) at once, then one text delta every interval, the
closing events (content_block_stop, message_delta, message_stop) as the last of ``events``
writes, so the stream lasts ``(events - 1) x interval``. When it also has ``x-bench-stream: ID``,
the time each event was written (``time.monotonic()``, the same clock in every process of the
machine) is kept under that ID, with the time the request arrived, until ``GET /bench/timings``
hands them all over (and forgets them).

The whole request body is always read. Run: ``python bench/upstream.py --port 8001``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
import uvloop
from aiohttp import web

from link_assistant_router.garbage import Collector

SSE_EVENT_COUNT = 200
MODEL = "claude-sonnet-5-5"
# The request's "stream" flag; the benchmark's bodies have no other "stream" key.
_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
# Scanning 1 MB costs ~300 us, as much as reading it: larger bodies are only searched at the end,
# where the benchmark's (and Claude Code's) requests put "stream".
_FULL_SCAN_BYTES = 256 * 1024
_TAIL_BYTES = 256
_READ_BUFSIZE = 1024 * 1024
STREAM_HEADER = "x-bench-stream"
INTERVAL_HEADER = "x-bench-interval-ms"
EVENTS_HEADER = "x-bench-events"
TIMINGS_PATH = "/bench/timings"
# A paced stream writes its opening events together, and its closing ones: three each.
OPENING_EVENTS = 3
PACED_EXTRA_EVENTS = 4  # events beyond one per write
_MAX_PACED_EVENTS = 10_000
_WORDS = ("the", "router", "relays", "each", "event", "as", "soon", "as", "it", "arrives")


def _event(name: str, data: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def sse_events(count: int = SSE_EVENT_COUNT) -> list[bytes]:
    """A Messages stream of exactly ``count`` events with one text block."""
    usage = {
        "input_tokens": 25310,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 25000,
        "output_tokens": 1,
    }
    message: dict[str, object] = {
        "id": "msg_bench_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    head = [
        _event("message_start", {"type": "message_start", "message": message}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event("ping", {"type": "ping"}),
    ]
    tail = [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": count * 2},
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    deltas = [
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": f"{_WORDS[i % len(_WORDS)]} word{i} "},
            },
        )
        for i in range(count - len(head) - len(tail))
    ]
    return head + deltas + tail


def group_writes(events: list[bytes], per_write: int) -> list[bytes]:
    """Join consecutive events into the chunks written to the socket."""
    return [b"".join(events[i : i + per_write]) for i in range(0, len(events), per_write)]


def paced_writes(writes: int) -> list[bytes]:
    """The ``writes`` chunks of a paced stream (at least 2): the opening events together, one
    text delta each, the closing events together; ``writes + PACED_EXTRA_EVENTS`` events."""
    if writes < 2:
        raise ValueError("a paced stream has at least 2 writes")
    events = sse_events(writes + PACED_EXTRA_EVENTS)
    opening, closing = events[:OPENING_EVENTS], events[-3:]
    return [b"".join(opening), *events[OPENING_EVENTS:-3], b"".join(closing)]


def pace_of(headers: Mapping[str, str]) -> tuple[float, int] | None:
    """The interval (s) and writes a request asks for, None if it asks for no pacing; raises
    ValueError for values out of range."""
    interval, writes = headers.get(INTERVAL_HEADER), headers.get(EVENTS_HEADER)
    if interval is None or writes is None:
        return None
    interval_ms, count = float(interval), int(writes)
    if not 0 <= interval_ms <= 60_000 or not 2 <= count <= _MAX_PACED_EVENTS:
        raise ValueError(f"pace out of range: {interval_ms} ms, {count} events")
    return interval_ms / 1000, count


@dataclass
class Timing:
    """One paced stream as the upstream saw it: when its request arrived (before its body was
    read), when each event was written, and whether the last one was."""

    received: float
    sent: list[float] = field(default_factory=list)
    complete: bool = False

    def as_json(self) -> dict[str, object]:
        return {"received": self.received, "sent": self.sent, "complete": self.complete}


def json_reply() -> bytes:
    """A non-streaming Messages response of about 500 bytes."""
    return orjson.dumps(
        {
            "id": "msg_bench_02",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {
                    "type": "text",
                    "text": "Here is a short answer from the fake upstream, padded so the whole "
                    "response is about five hundred bytes long, like a one-line reply from "
                    "the real Messages API with its usage block and identifiers attached.",
                }
            ],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 42,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 57,
            },
        }
    )


def wants_stream(body: bytes) -> bool:
    """Whether the request body asks for a stream (``"stream": true``)."""
    start = 0 if len(body) <= _FULL_SCAN_BYTES else len(body) - _TAIL_BYTES
    return _STREAM_TRUE.search(body, start) is not None


class FakeAnthropic:
    """The request handler, holding every response body ready to write."""

    def __init__(self, events_per_write: int) -> None:
        self._json = json_reply()
        self._sse_writes = group_writes(sse_events(), events_per_write)
        self._json_headers = {"Content-Type": "application/json", "request-id": "req_bench_json"}
        self._sse_headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "request-id": "req_bench_sse",
        }
        self._paced: dict[int, list[bytes]] = {}
        self.timings: dict[str, Timing] = {}

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        received = time.monotonic()
        body = await request.content.read()  # unbounded: the 1 MB case must be read in full
        if request.method == "GET" and request.path == TIMINGS_PATH:
            taken, self.timings = self.timings, {}
            data = {key: timing.as_json() for key, timing in taken.items()}
            return web.Response(body=orjson.dumps(data), content_type="application/json")
        if request.method != "POST" or request.path != "/v1/messages":
            return web.Response(status=404, text="not found")
        if not wants_stream(body):
            return web.Response(body=self._json, headers=self._json_headers)
        try:
            pace = pace_of(request.headers)
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        if pace is not None:
            timing = Timing(received)
            stream_id = request.headers.get(STREAM_HEADER)
            if stream_id:
                self.timings[stream_id] = timing
            return await self._paced_stream(request, *pace, timing)
        response = web.StreamResponse(headers=self._sse_headers)
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for chunk in self._sse_writes:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:  # the client left (wrk stops mid-response at its end)
            pass
        return response

    async def _paced_stream(
        self, request: web.BaseRequest, interval_s: float, writes: int, timing: Timing
    ) -> web.StreamResponse:
        chunks = self._paced.get(writes)
        if chunks is None:
            chunks = self._paced[writes] = paced_writes(writes)
        response = web.StreamResponse(headers=self._sse_headers)
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            start = time.monotonic()
            for index, chunk in enumerate(chunks):
                if index:
                    # On a fixed schedule: a late write does not push the later ones back.
                    await asyncio.sleep(start + index * interval_s - time.monotonic())
                timing.sent.extend([time.monotonic()] * chunk.count(b"\n\n"))
                await response.write(chunk)
            await response.write_eof()
            timing.complete = True
        except ConnectionResetError:  # the client (or the router) left
            pass
        return response


async def serve(host: str, port: int, events_per_write: int) -> None:
    # A larger read buffer pauses and resumes the socket less often while a 1 MB body arrives.
    server = web.Server(
        FakeAnthropic(events_per_write), access_log=None, read_bufsize=_READ_BUFSIZE
    )
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    # Collected as the router's workers are, so that its own pauses do not read as theirs.
    collecting = asyncio.create_task(Collector().run())
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        collecting.cancel()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events-per-write", type=int, default=10)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.events_per_write))


if __name__ == "__main__":
    main()
