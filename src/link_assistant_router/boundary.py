"""The one error boundary: every error a handler raises becomes an HTTP response here.

Responses use Anthropic's error shape, ``{"type":"error","error":{"type","message"},
"request_id"}``, with the router's request id in the ``request-id`` header; OpenAI's on the
routes whose clients expect it; a page on the console's routes (drawn by the ``HTML_ERRORS``
renderer the console installs). Upstream error responses never come through here: the proxy
passes those on as they are.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.errors import RouterError
from link_assistant_router.peers import client_address
from link_assistant_router.requestlog import (
    REQUEST_FINISHED,
    REQUEST_LOG,
    Outcome,
    RequestLog,
    clean_text,
)
from link_assistant_router.routes import Handler, Route, route_of

__all__ = [
    "HTML_ERRORS",
    "HtmlErrors",
    "error_boundary",
    "error_response",
    "openai_error",
    "openai_error_response",
    "wants_openai_errors",
]

log = logging.getLogger(__name__)

# Draws an error page: (request, status, message, request id) -> the response.
HtmlErrors = Callable[[web.Request, int, str, str], web.Response]
HTML_ERRORS: web.AppKey[HtmlErrors] = web.AppKey("html_errors")


def wants_openai_errors(route: Route, request: web.Request) -> bool:
    """Whether the route's clients expect OpenAI's error shape."""
    if route.errors == "openai_unless_anthropic":
        return "anthropic-version" not in request.headers
    return route.errors == "openai"


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


# Anthropic's error types and OpenAI's: the common ones share names.
_OPENAI_TYPES = {
    "api_error": "server_error",
    "overloaded_error": "server_error",
    "timeout_error": "server_error",
    "request_too_large": "invalid_request_error",
}
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 529: "overloaded"}


def openai_error(status: int, error_type: str, message: str, param: str | None = None) -> bytes:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(error_type, error_type),
                "param": param,
                "code": _OPENAI_CODES.get(status),
            }
        }
    )


def openai_error_response(
    status: int,
    error_type: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> web.Response:
    """OpenAI's error shape, for the OpenAI-compatible routes."""
    return web.Response(
        status=status,
        body=openai_error(status, error_type, message, param),
        content_type="application/json",
        headers={"request-id": request_id, **(headers or {})},
    )


def _page(request: web.Request) -> Callable[..., web.Response]:
    """The error response for a console route: the console's page, or plain escaped text."""
    draw = request.app.get(HTML_ERRORS)

    def respond(
        status: int, error_type: str, message: str, request_id: str, headers: Any = None
    ) -> web.Response:
        response: web.Response
        if draw is not None:
            response = draw(request, status, message, request_id)
        else:
            text = html.escape(message)
            response = web.Response(status=status, text=text, content_type="text/html")
        response.headers.update(headers or {})
        response.headers["request-id"] = request_id
        return response

    return respond


def _translate(
    exc: BaseException,
    entry: RequestLog,
    openai: bool,
    page: Callable[..., web.Response] | None = None,
) -> web.Response:
    respond = page or (openai_error_response if openai else error_response)
    if isinstance(exc, RouterError):
        if exc.status >= 500:
            log.warning("%s: %s", entry.request_id, exc.message)
        entry.outcome = exc.error_type
        if page is not None:
            return page(exc.status, exc.error_type, exc.message, entry.request_id, exc.headers())
        if openai:
            return openai_error_response(
                exc.status,
                exc.error_type,
                exc.message,
                entry.request_id,
                exc.headers(),
                getattr(exc, "param", None),
            )
        return error_response(
            exc.status, exc.error_type, exc.message, entry.request_id, exc.headers()
        )
    if isinstance(exc, web.HTTPException):
        error_type = _TYPE_BY_STATUS.get(exc.status, "api_error")
        entry.outcome = error_type
        return respond(exc.status, error_type, exc.reason, entry.request_id)
    log.error("%s: unexpected error", entry.request_id, exc_info=exc)
    entry.outcome = Outcome.INTERNAL_ERROR
    return respond(500, "api_error", "internal error in the router", entry.request_id)


@web.middleware
async def error_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_of(request)
    entry = RequestLog(request.method, clean_text(request.path))
    entry.route = route.name
    entry.remote = client_address(request)
    user_agent = request.headers.get("user-agent")
    entry.client = clean_text(user_agent) if user_agent else None
    request[REQUEST_LOG] = entry
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        entry.outcome = Outcome.CLIENT_DISCONNECTED
        if route.logged:
            entry.emit()
            _finished(request, entry)
        raise
    except Exception as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise
        page = _page(request) if route.errors == "html" else None
        response = _translate(exc, entry, wants_openai_errors(route, request), page)
    entry.status = response.status
    if route.logged:
        entry.emit()
        _finished(request, entry)
    return response


def _finished(request: web.Request, entry: RequestLog) -> None:
    finished = request.app.get(REQUEST_FINISHED)
    if finished is not None:
        finished(entry)
