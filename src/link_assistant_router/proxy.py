"""The request pipeline: authenticate -> read the body -> swap the credential -> forward -> relay.

The body goes upstream byte-for-byte; the response comes back as it arrives. Server-sent
events are relayed whole events at a time: a chunk is written up to its last event boundary at
once, and only an incomplete trailing event waits for its remaining bytes (which the client could
not use without them). That way, when the upstream drops mid-stream, the client gets a
well-formed ``event: error`` instead of half an event.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from link_assistant_router.credentials import CredentialSource
from link_assistant_router.errors import RequestTooLarge, UpstreamUnreachable
from link_assistant_router.headers import (
    client_key,
    client_response_headers,
    upstream_request_headers,
)
from link_assistant_router.keys import KeyService
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.upstream import Upstream

log = logging.getLogger(__name__)

# Responses up to this size with a known length are read in one go and answered whole.
_SMALL_RESPONSE_BYTES = 256 * 1024
# An SSE "event" this long without a boundary is passed on anyway rather than held.
_MAX_HELD_EVENT_BYTES = 1024 * 1024
_UPSTREAM_DROPPED = (aiohttp.ClientError, asyncio.TimeoutError)
UPSTREAM_LOST_EVENT = (
    b"event: error\n"
    b'data: {"type":"error","error":{"type":"api_error",'
    b'"message":"The upstream connection was lost mid-stream."}}\n\n'
)


def _event_boundary(chunk: bytes) -> int:
    """The index just past the last complete SSE event in ``chunk`` (0 when there is none)."""
    lf = chunk.rfind(b"\n\n")
    crlf = chunk.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


class Proxy:
    """Forwards client requests to the upstream with the router's credential."""

    def __init__(
        self,
        keys: KeyService,
        credentials: CredentialSource,
        upstream: Upstream,
        max_body_bytes: int,
    ) -> None:
        self._keys = keys
        self._credentials = credentials
        self._upstream = upstream
        self._max_body_bytes = max_body_bytes

    async def forward(self, request: web.Request, target: str) -> web.StreamResponse:
        """Proxy ``request`` to ``target`` (the upstream path and query, still encoded)."""
        entry = request[REQUEST_LOG]
        key = await self._keys.authenticate(client_key(request.headers))
        entry.key_id, entry.key_label = key.id, key.label
        body = await self._read_body(request)
        entry.bytes_in = len(body) if body else 0
        credential = self._credentials.current()
        headers = upstream_request_headers(request.headers.items(), credential)
        upstream = await self._upstream.send(request.method, target, headers, body)
        entry.mark_first_byte()
        entry.upstream_status = upstream.status
        entry.upstream_request_id = upstream.headers.get("request-id")
        try:
            return await self._relay(request, upstream, entry)
        finally:
            # A no-op once the body was read to the end (the connection is back in the pool);
            # otherwise (client gone, upstream broken) the upstream connection is dropped.
            upstream.close()

    async def _read_body(self, request: web.Request) -> bytes | None:
        if not request.body_exists:
            return None
        length = request.content_length
        if length is not None and length > self._max_body_bytes:
            raise self._too_large()
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise self._too_large() from exc

    def _too_large(self) -> RequestTooLarge:
        limit_mb = self._max_body_bytes / (1024 * 1024)
        return RequestTooLarge(
            f"request body is larger than the router's limit of {limit_mb:g} MB "
            "(MAX_REQUEST_BODY_MB)"
        )

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, entry: RequestLog
    ) -> web.StreamResponse:
        headers = client_response_headers(upstream.headers.items())
        length = upstream.content_length
        if length is not None and length <= _SMALL_RESPONSE_BYTES:
            try:
                body = await upstream.read()
            except _UPSTREAM_DROPPED as exc:
                raise UpstreamUnreachable(
                    "the upstream closed the connection in the middle of its response"
                ) from exc
            entry.bytes_out = len(body)
            return web.Response(
                status=upstream.status, reason=upstream.reason, headers=headers, body=body
            )
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        content_type = upstream.headers.get("content-type", "")
        is_sse = content_type.startswith("text/event-stream") and not upstream.headers.get(
            "content-encoding"
        )
        try:
            if is_sse:
                await self._relay_events(upstream, response, entry)
            else:
                await self._relay_bytes(upstream, response, entry)
        except ConnectionResetError:
            entry.outcome = "client_disconnected"
            return response
        await response.write_eof()
        return response

    async def _relay_bytes(
        self, upstream: aiohttp.ClientResponse, response: web.StreamResponse, entry: RequestLog
    ) -> None:
        content = upstream.content
        while True:
            try:
                chunk = await content.readany()
            except _UPSTREAM_DROPPED as exc:
                self._dropped(entry, exc)
                response.force_close()
                return
            if not chunk:
                return
            entry.bytes_out += len(chunk)
            await response.write(chunk)

    async def _relay_events(
        self, upstream: aiohttp.ClientResponse, response: web.StreamResponse, entry: RequestLog
    ) -> None:
        content = upstream.content
        held = b""
        while True:
            try:
                chunk = await content.readany()
            except _UPSTREAM_DROPPED as exc:
                self._dropped(entry, exc)
                entry.bytes_out += len(UPSTREAM_LOST_EVENT)
                await response.write(UPSTREAM_LOST_EVENT)
                return
            if not chunk:
                if held:
                    entry.bytes_out += len(held)
                    await response.write(held)
                return
            if held:
                chunk = held + chunk
            cut = _event_boundary(chunk)
            if cut == len(chunk):
                held = b""
            elif cut == 0 and len(chunk) < _MAX_HELD_EVENT_BYTES:
                held = chunk
                continue
            elif cut == 0:
                held = b""
            else:
                chunk, held = chunk[:cut], chunk[cut:]
            entry.bytes_out += len(chunk)
            await response.write(chunk)

    @staticmethod
    def _dropped(entry: RequestLog, exc: BaseException) -> None:
        entry.outcome = "upstream_dropped"
        log.warning(
            "%s: upstream connection lost mid-response (%s)", entry.request_id, type(exc).__name__
        )
