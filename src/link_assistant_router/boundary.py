"""The one error boundary: every error a handler raises becomes an HTTP response here.

Responses use Anthropic's error shape, ``{"type":"error","error":{"type","message"},
"request_id"}``, with the router's request id in the ``request-id`` header. Upstream error
responses never come through here: the proxy passes those on as they are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from link_assistant_router.errors import RouterError
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Probes are polled every few seconds; a line each would drown the log.
_UNLOGGED_PATHS = frozenset({"/health", "/ready"})

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
}


def error_response(
    status: int,
    error_type: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"request-id": request_id, **(headers or {})},
    )


def _translate(exc: BaseException, entry: RequestLog) -> web.Response:
    if isinstance(exc, RouterError):
        if exc.status >= 500:
            log.warning("%s: %s", entry.request_id, exc.message)
        entry.outcome = exc.error_type
        return error_response(
            exc.status, exc.error_type, exc.message, entry.request_id, exc.headers()
        )
    if isinstance(exc, web.HTTPException):
        error_type = _TYPE_BY_STATUS.get(exc.status, "api_error")
        entry.outcome = error_type
        return error_response(exc.status, error_type, exc.reason, entry.request_id)
    log.error("%s: unexpected error", entry.request_id, exc_info=exc)
    entry.outcome = "internal_error"
    return error_response(500, "api_error", "internal error in the router", entry.request_id)


@web.middleware
async def error_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    entry = RequestLog(request.method, request.path)
    request[REQUEST_LOG] = entry
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        entry.outcome = "client_disconnected"
        entry.emit()
        raise
    except Exception as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise
        response = _translate(exc, entry)
    entry.status = response.status
    if request.path not in _UNLOGGED_PATHS:
        entry.emit()
    return response
