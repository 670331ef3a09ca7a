"""Relaying an upstream response to the client as it arrives.

Server-sent events are relayed whole events at a time: a chunk is written up to its last event
boundary at once, and only an incomplete trailing event waits for its remaining bytes (which the
client could not use without them). So when the upstream drops mid-stream, the client gets a
well-formed ``event: error`` instead of half an event.

A response may arrive here with a ``prefix``: bytes the proxy already read while deciding whether
to fail over (an error body, or the start of a stream). They are sent first, as if just read.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from link_assistant_router.errors import UpstreamUnreachable
from link_assistant_router.metrics import METRICS
from link_assistant_router.proxy.headers import client_response_headers
from link_assistant_router.proxy.sse import event_boundary
from link_assistant_router.proxy.usage import StreamUsage, usage_from_body
from link_assistant_router.requestlog import RequestLog

log = logging.getLogger(__name__)

# Responses up to this size with a known length are read in one go and answered whole.
SMALL_RESPONSE_BYTES = 256 * 1024
# An SSE "event" this long without a boundary is passed on anyway rather than held.
_MAX_HELD_EVENT_BYTES = 1024 * 1024
_MAX_KEPT_BYTES = 16 * 1024 * 1024
RATE_LIMIT_PREFIX = "anthropic-ratelimit-"
UPSTREAM_DROPPED = (aiohttp.ClientError, asyncio.TimeoutError)
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


async def relay(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    entry: RequestLog,
    prefix: bytes = b"",
    complete: bool = False,
    rate_headers: list[tuple[str, str]] | None = None,
) -> web.StreamResponse:
    """Send the upstream's status, headers and body to the client, reading its usage.

    ``rate_headers``: the key's own rate-limit headers, sent instead of the upstream's.
    """
    headers = client_response_headers(upstream.headers.items())
    if rate_headers is not None:
        for name in [n for n in headers if n.lower().startswith(RATE_LIMIT_PREFIX)]:
            headers.popall(name, None)
        headers.extend(rate_headers)
    length = upstream.content_length
    if complete or (length is not None and length <= SMALL_RESPONSE_BYTES):
        body = prefix
        if not complete:
            try:
                body += await upstream.read()
            except UPSTREAM_DROPPED as exc:
                raise UpstreamUnreachable(
                    "the upstream closed the connection in the middle of its response"
                ) from exc
        entry.bytes_out = len(body)
        if upstream.status == 200:
            read_usage(entry, body)
        return web.Response(
            status=upstream.status, reason=upstream.reason, headers=headers, body=body
        )
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
    if length is not None:
        response.content_length = length
    try:
        await response.prepare(request)
        if is_event_stream(upstream):
            metrics = request.app.get(METRICS)
            if metrics is not None:
                metrics.active_streams.inc()
            try:
                await _relay_events(upstream, response, entry, prefix)
            finally:
                if metrics is not None:
                    metrics.active_streams.dec()
        else:
            # A large JSON answer is kept (up to a limit) to read its usage at the end.
            kept: list[bytes] | None = None
            if upstream.status == 200 and upstream.content_type == "application/json":
                kept = [prefix] if prefix else []
            if prefix:
                entry.bytes_out += len(prefix)
                await response.write(prefix)
            await _relay_bytes(upstream, response, entry, kept)
            if kept is not None and entry.bytes_out <= _MAX_KEPT_BYTES:
                read_usage(entry, b"".join(kept))
        await response.write_eof()
    except ConnectionResetError:
        # The client left: at the headers, mid-body or at the last chunk. Nothing to answer.
        entry.outcome = "client_disconnected"
    return response


def read_usage(entry: RequestLog, body: bytes) -> None:
    """Note a whole Messages answer's usage and model on the request's entry."""
    found = usage_from_body(body)
    if found is not None:
        entry.usage, model = found
        entry.model = entry.model or model


async def _relay_bytes(
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    entry: RequestLog,
    kept: list[bytes] | None,
) -> None:
    content = upstream.content
    while True:
        try:
            chunk = await content.readany()
        except UPSTREAM_DROPPED as exc:
            _dropped(entry, exc)
            response.force_close()
            return
        if not chunk:
            return
        entry.bytes_out += len(chunk)
        if kept is not None and entry.bytes_out <= _MAX_KEPT_BYTES:
            kept.append(chunk)
        await response.write(chunk)


async def _relay_events(
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    entry: RequestLog,
    held: bytes,
) -> None:
    content = upstream.content
    meter = StreamUsage() if upstream.status == 200 else None
    try:
        await _relay_event_chunks(content, response, entry, held, meter)
    finally:
        if meter is not None:
            entry.usage, entry.usage_complete = meter.usage, meter.complete
            entry.model = entry.model or meter.model


async def _relay_event_chunks(
    content: aiohttp.StreamReader,
    response: web.StreamResponse,
    entry: RequestLog,
    held: bytes,
    meter: StreamUsage | None,
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
            entry.bytes_out += len(chunk)
            if meter is not None:
                if whole:
                    meter.feed_events(chunk)
                else:
                    meter.feed(chunk)
            await response.write(chunk)
        try:
            chunk = await content.readany()
        except UPSTREAM_DROPPED as exc:
            _dropped(entry, exc)
            entry.bytes_out += len(UPSTREAM_LOST_EVENT)
            await response.write(UPSTREAM_LOST_EVENT)
            return
        if not chunk:
            if held:
                entry.bytes_out += len(held)
                if meter is not None:
                    meter.feed(held + b"\n\n")  # an unterminated last event still counts
                await response.write(held)
            return


def _dropped(entry: RequestLog, exc: BaseException) -> None:
    entry.outcome = "upstream_dropped"
    log.warning(
        "%s: upstream connection lost mid-response (%s)", entry.request_id, type(exc).__name__
    )
