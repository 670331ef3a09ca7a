"""relay(): a client that leaves at any step of a streamed answer is an outcome, not an error.

A real client's reset reaches aiohttp at a moment no test controls (the benchmark hit it: wrk
stops mid-stream), so the writer here fails on purpose at each step: sending the headers, a body
chunk, or the final chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientConnectionResetError
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import StreamResponse
from multidict import CIMultiDict

from link_assistant_router.proxy.relay import relay, relay_events
from link_assistant_router.requestlog import RequestLog

EVENTS = [b"event: message_start\ndata: {}\n\n", b"event: ping\ndata: {}\n\n"]


class FailingWriter:
    """A payload writer whose transport closes at ``fail_at``: headers, write or eof."""

    def __init__(self, fail_at: str) -> None:
        self.fail_at = fail_at
        self.buffer_size = 0
        self.output_size = 0
        self.length: int | None = None
        self.written: list[bytes] = []

    def _maybe_fail(self, step: str) -> None:
        if step == self.fail_at:
            raise ClientConnectionResetError("Cannot write to closing transport")

    async def write_headers(self, status_line: str, headers: Any) -> None:
        self._maybe_fail("headers")

    def send_headers(self) -> None:
        pass

    async def write(self, data: bytes, *args: Any, **kwargs: Any) -> None:
        self._maybe_fail("write")
        self.written.append(bytes(data))

    async def write_eof(self, data: bytes = b"") -> None:
        self._maybe_fail("eof")

    async def drain(self) -> None:
        pass

    def enable_chunking(self) -> None:
        pass

    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_eof(self) -> None:
        pass


@dataclass
class Content:
    chunks: Iterator[bytes]

    async def readany(self) -> bytes:
        return next(self.chunks, b"")


@dataclass
class StreamedAnswer:
    """The parts of an ``aiohttp.ClientResponse`` that relay() reads."""

    status: int = 200
    reason: str = "OK"
    content_length: int | None = None
    headers: CIMultiDict[str] = field(
        default_factory=lambda: CIMultiDict({"content-type": "text/event-stream"})
    )
    content: Content = field(default_factory=lambda: Content(iter(EVENTS)))


@pytest.mark.parametrize("fail_at", ["headers", "write", "eof"])
async def test_a_client_gone_at_any_step_is_recorded_as_a_disconnect(fail_at: str) -> None:
    writer = FailingWriter(fail_at)
    request = make_mocked_request("POST", "/v1/messages", writer=writer)
    entry = RequestLog("POST", "/v1/messages")

    await relay(request, StreamedAnswer(), entry)  # type: ignore[arg-type]

    assert entry.outcome == "client_disconnected"


async def test_a_client_that_stays_gets_every_event() -> None:
    writer = FailingWriter("never")
    request = make_mocked_request("POST", "/v1/messages", writer=writer)
    entry = RequestLog("POST", "/v1/messages")

    await relay(request, StreamedAnswer(), entry)  # type: ignore[arg-type]

    assert (entry.outcome, b"".join(writer.written)) == ("ok", b"".join(EVENTS))


class Shouting:
    """A stream translator that upper-cases what it is fed (and says when it ends)."""

    def feed(self, chunk: bytes) -> bytes:
        return chunk.upper()

    def close(self) -> bytes:
        return b"END"

    def abandon_partial(self) -> None:
        pass


async def test_a_chunk_of_many_events_is_one_write() -> None:
    """Whole events go out together; the half event after them waits for its end."""
    writer = FailingWriter("never")
    request = make_mocked_request("POST", "/v1/messages", writer=writer)
    whole, half = b"".join(EVENTS), EVENTS[0][:10]
    upstream = StreamedAnswer(content=Content(iter([whole + half, EVENTS[0][10:]])))
    entry = RequestLog("POST", "/v1/messages")

    await relay_events(request, StreamResponse(), upstream, entry)  # type: ignore[arg-type]

    assert writer.written == [whole, EVENTS[0]]


async def test_a_translated_stream_is_written_as_the_translator_says() -> None:
    writer = FailingWriter("never")
    request = make_mocked_request("POST", "/v1/chat/completions", writer=writer)
    whole, half = b"".join(EVENTS), EVENTS[0][:10]
    upstream = StreamedAnswer(content=Content(iter([whole + half, EVENTS[0][10:]])))
    entry = RequestLog("POST", "/v1/chat/completions")
    response, translator = StreamResponse(), Shouting()

    await relay_events(request, response, upstream, entry, translator=translator)  # type: ignore[arg-type]

    assert writer.written == [whole.upper(), EVENTS[0].upper(), b"END"]
    assert entry.bytes_out == len(whole + EVENTS[0]) + 3
