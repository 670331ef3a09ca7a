"""Relaying an upstream response to the client as it arrives.

Server-sent events are relayed whole events at a time: a chunk is written up to its last event
boundary at once, and only an incomplete trailing event waits for its remaining bytes (which the
client could not use without them). So when the upstream drops mid-stream, the client gets a
well-formed ``event: error`` instead of half an event. Every event stream goes through one loop
(``relay_events``), for Anthropic clients as it came and for other formats through their stream
translator; the usage is read from the upstream's bytes either way, and how the stream ended is
recorded in the request's ``outcome`` (``requestlog.Outcome``).

A response may arrive here with a ``prefix``: bytes the proxy already read while deciding whether
to fail over (an error body, or the start of a stream). They are sent first, as if just read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

import aiohttp
from aiohttp import web

from link_assistant_router.errors import UpstreamUnreachable
from link_assistant_router.metrics import METRICS
from link_assistant_router.proxy.headers import client_response_headers
from link_assistant_router.proxy.sse import PASSTHROUGH, StreamTranslator, event_boundary
from link_assistant_router.proxy.usage import StreamUsage, usage_from_body
from link_assistant_router.requestlog import Outcome, RequestLog

__all__ = [
    "RATE_LIMIT_PREFIX",
    "READ_ERRORS",
    "SMALL_RESPONSE_BYTES",
    "UPSTREAM_LOST_EVENT",
    "is_event_stream",
    "read_rest",
    "read_usage",
    "relay",
    "relay_events",
]

log = logging.getLogger(__name__)

# Responses up to this size with a known length are read in one go and answered whole.
SMALL_RESPONSE_BYTES = 256 * 1024
# An SSE "event" this long without a boundary is passed on anyway rather than held.
_MAX_HELD_EVENT_BYTES = 1024 * 1024
_MAX_KEPT_BYTES = 16 * 1024 * 1024
RATE_LIMIT_PREFIX = "anthropic-ratelimit-"
# What reading the upstream's body raises when the upstream drops or falls silent.
READ_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
UPSTREAM_LOST_EVENT = (
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"api_error",'
    b'"message":"The upstream connection was lost mid-stream."}}\n\n'
)


def is_event_stream(upstream: aiohttp.ClientResponse) -> bool:
    content_type = upstream.headers.get("content-type", "")
    return content_type.startswith("text/event-stream") and not upstream.headers.get(
        "content-encoding"
    )


async def read_rest(upstream: aiohttp.ClientResponse, prefix: bytes = b"") -> bytes:
    """``prefix`` and the rest of the upstream's body, read whole."""
    try:
        return prefix + await upstream.read()
    except READ_ERRORS as exc:
        raise UpstreamUnreachable(
            "the upstream closed the connection in the middle of its response"
        ) from exc


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    entry: RequestLog,
    prefix: bytes = b"",
    complete: bool = False,
    rate_headers: list[tuple[str, str]] | None = None,
    tap: Callable[[bytes], None] | None = None,
) -> web.StreamResponse:
    """Send the upstream's status, headers and body to the client, reading its usage.

    ``rate_headers``: the key's own rate-limit headers, sent instead of the upstream's;
    ``tap``: shown every piece of a body that is not an event stream, in order, as it passes.
    """
    headers = client_response_headers(upstream.headers.items())
    if rate_headers is not None:
        for name in [n for n in headers if n.lower().startswith(RATE_LIMIT_PREFIX)]:
            headers.popall(name, None)
        headers.extend(rate_headers)
    length = upstream.content_length
    if complete or (length is not None and length <= SMALL_RESPONSE_BYTES):
        body = prefix if complete else await read_rest(upstream, prefix)
        entry.bytes_out = len(body)
        if tap is not None:
            tap(body)
        if upstream.status == 200:
            read_usage(entry, body)
        return web.Response(
            status=upstream.status, reason=upstream.reason, headers=headers, body=body
        )
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    if length is not None:
        response.content_length = length
    if is_event_stream(upstream):
        return await relay_events(request, response, upstream, entry, held=prefix)
    with _client_may_leave(entry):
        await response.prepare(request)
        # A large JSON answer is kept (up to a limit) to read its usage at the end.
        kept: list[bytes] | None = None
        if upstream.status == 200 and upstream.content_type == "application/json":
            kept = [prefix] if prefix else []
        if prefix:
            entry.bytes_out += len(prefix)
            if tap is not None:
                tap(prefix)
            await response.write(prefix)
        await _relay_bytes(upstream, response, entry, kept, tap)
        if kept is not None and entry.bytes_out <= _MAX_KEPT_BYTES:
            read_usage(entry, b"".join(kept))
        await response.write_eof()
    return response


async def relay_events(
    request: web.Request,
    response: web.StreamResponse,
    upstream: aiohttp.ClientResponse,
    entry: RequestLog,
    *,
    held: bytes = b"",
    translator: StreamTranslator = PASSTHROUGH,
) -> web.StreamResponse:
    """Relay the upstream's event stream to ``response`` (not prepared yet) through
    ``translator`` (into the client's format; as it is by default), whole events at a time.

    ``held``: the start of the stream, already read. The usage is read from the upstream's
    bytes; the entry's ``outcome`` says if the client left or the upstream dropped or fell
    silent (the client then gets an ``error`` event, in its format).
    """
    meter = StreamUsage() if upstream.status == 200 else None
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.active_streams.inc()
    try:
        with _client_may_leave(entry):
            await response.prepare(request)
            await _relay_event_chunks(upstream.content, response, entry, held, meter, translator)
            await response.write_eof()
    finally:
        if metrics is not None:
            metrics.active_streams.dec()
        if meter is not None:
            entry.usage, entry.usage_complete = meter.usage, meter.complete
            entry.model = entry.model or meter.model
    return response


def read_usage(entry: RequestLog, body: bytes) -> None:
    """Note a whole Messages answer's usage and model on the request's entry."""
    found = usage_from_body(body)
    if found is not None:
        entry.usage, model = found
        entry.model = entry.model or model


@contextlib.contextmanager
def _client_may_leave(entry: RequestLog) -> Iterator[None]:
    """A client that leaves (at the headers, mid-body or at the last chunk) is an outcome:
    there is nobody left to answer."""
    try:
        yield
    except ConnectionResetError:
        entry.outcome = Outcome.CLIENT_DISCONNECTED


async def _relay_bytes(
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    entry: RequestLog,
    kept: list[bytes] | None,
    tap: Callable[[bytes], None] | None,
) -> None:
    content = upstream.content
    while True:
        try:
            chunk = await content.readany()
        except READ_ERRORS as exc:
            _lost(entry, exc)
            response.force_close()
            return
        if not chunk:
            return
        entry.bytes_out += len(chunk)
        if kept is not None and entry.bytes_out <= _MAX_KEPT_BYTES:
            kept.append(chunk)
        if tap is not None:
            tap(chunk)
        await response.write(chunk)


async def _relay_event_chunks(
    content: aiohttp.StreamReader,
    response: web.StreamResponse,
    entry: RequestLog,
    held: bytes,
    meter: StreamUsage | None,
    translator: StreamTranslator,
) -> None:
    chunk = b""
    while True:
        if held:
            chunk, held = held + chunk, b""
        cut = event_boundary(chunk)
        whole = True  # the chunk ends on an event boundary
        if cut == len(chunk):
            pass
        elif cut == 0 and len(chunk) < _MAX_HELD_EVENT_BYTES:
            chunk, held = b"", chunk
        elif cut > 0:
            chunk, held = chunk[:cut], chunk[cut:]
        else:
            whole = False  # an event too long to hold: passed on in pieces
        if chunk:
            if meter is not None:
                if whole:
                    meter.feed_events(chunk)
                else:
                    meter.feed(chunk)
            out = translator.feed(chunk)  # the chunk itself, for Anthropic clients
            if out:
                entry.bytes_out += len(out)
                await response.write(out)
        try:
            chunk = await content.readany()
        except READ_ERRORS as exc:
            _lost(entry, exc)
            translator.abandon_partial()
            ending = translator.feed(UPSTREAM_LOST_EVENT) + translator.close()
            await _write(response, entry, ending)
            return
        if not chunk:
            if held and meter is not None:
                meter.feed(held + b"\n\n")  # an unterminated last event still counts
            ending = (translator.feed(held) if held else b"") + translator.close()
            await _write(response, entry, ending)
            return


async def _write(response: web.StreamResponse, entry: RequestLog, out: bytes) -> None:
    if out:
        entry.bytes_out += len(out)
        await response.write(out)


def _lost(entry: RequestLog, exc: BaseException) -> None:
    """The upstream dropped its answer, or fell silent, after it began."""
    if isinstance(exc, asyncio.TimeoutError):
        entry.outcome = Outcome.UPSTREAM_TIMEOUT
    else:
        entry.outcome = Outcome.UPSTREAM_DROPPED
    log.warning("%s: %s mid-response (%s)", entry.request_id, entry.outcome, type(exc).__name__)
