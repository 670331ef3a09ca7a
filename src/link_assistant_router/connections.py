"""Client connections, with the router's rules on top of aiohttp's runner and handler:

- a request target is put in normal form before it is routed (``routes.normal_target``);
- a request aiohttp cannot parse is answered without quoting it (its answer echoed the raw
  line, a credential header included) and logged as one line (``logs.MalformedRequests``);
- a request's head must arrive within ``header_timeout_s`` of its first byte, or of the
  connection's start (a client that sends half a request line and stops is closed, not held);
- an idle keep-alive connection closes after ``keepalive_s``;
- at most ``max_connections`` are open at once; a new one past that is closed at once, and the
  log says so (once a minute while it goes on).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import RawRequestMessage
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server
from yarl import URL

from link_assistant_router.routes import normal_target

__all__ = ["ConnectionRules", "RouterRunner", "make_runner"]

log = logging.getLogger(__name__)
_SAY_AGAIN_S = 60.0


class ConnectionRules:
    """The limits every client connection lives under (one per runner)."""

    def __init__(
        self, *, header_timeout_s: float, keepalive_s: float, max_connections: int
    ) -> None:
        self.header_timeout_s = header_timeout_s
        self.keepalive_s = keepalive_s
        self.max_connections = max_connections
        self.open = 0
        self.refused = 0
        self._said_at = float("-inf")

    def admit(self) -> bool:
        """Count a new connection in, unless the cap is reached (then say so, now and then)."""
        if self.open >= self.max_connections:
            self.refused += 1
            now = time.monotonic()
            if now - self._said_at >= _SAY_AGAIN_S:
                self._said_at = now
                log.warning(
                    "%d client connections are open (MAX_CLIENT_CONNECTIONS): new ones are "
                    "closed at once (%d so far)",
                    self.open,
                    self.refused,
                )
            return False
        self.open += 1
        return True


DEFAULT_RULES = ConnectionRules(header_timeout_s=10.0, keepalive_s=75.0, max_connections=16384)


class _Connection(RequestHandler):
    """aiohttp's connection handler with the router's rules (the module's docstring)."""

    _counted = False
    _head_deadline: asyncio.TimerHandle | None = None

    @property
    def _rules(self) -> ConnectionRules:
        rules: ConnectionRules = getattr(self._manager, "rules", DEFAULT_RULES)
        return rules

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._rules.admit():
            transport.close()
            return
        self._counted = True
        self._await_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._counted:
            self._counted = False
            self._rules.open -= 1
        self._stop_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages:  # a whole request head is in: its deadline is met
            self._stop_head_deadline()
        elif data and self._head_deadline is None:  # a new request's first bytes
            self._await_head()

    def _await_head(self) -> None:
        self._head_deadline = self._loop.call_later(
            self._rules.header_timeout_s, self._head_too_slow
        )

    def _stop_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._messages or self._request_in_progress:  # the head came in after all
            return
        if self.transport is not None:
            self.transport.close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            what = (exc.message or "").splitlines()[0].rstrip(":") if exc.message else ""
            message = f"{status} {what or 'Bad Request'}"
        return super().handle_error(request, status, exc, message)


class _Server(Server):
    rules: ConnectionRules = DEFAULT_RULES

    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


def _normalizing(make_request: Any) -> Any:
    """aiohttp's request factory, given each request's target in normal form first, so routes
    match, and the upstream gets, one spelling of every path (``routes.normal_target``)."""

    def factory(message: RawRequestMessage, *args: Any) -> BaseRequest:
        target = normal_target(message.path)
        if target != message.path:
            message = message._replace(path=target, url=URL(target, encoded=True))
        request: BaseRequest = make_request(message, *args)
        return request

    return factory


class RouterRunner(web.AppRunner):
    """The router's runner: its own connection handler (``_Connection``) under ``rules``, and
    request targets in normal form before they are routed."""

    def __init__(self, app: web.Application, *, rules: ConnectionRules, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.rules = rules

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _Server
        server.rules = self.rules  # type: ignore[attr-defined]
        server.request_factory = _normalizing(server.request_factory)
        return server


def make_runner(app: web.Application, rules: ConnectionRules | None = None) -> web.AppRunner:
    """The runner for an app: handlers are cancelled when their client goes away; client
    connections live under ``rules``."""
    rules = rules or DEFAULT_RULES
    return RouterRunner(
        app,
        rules=rules,
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=rules.keepalive_s,
    )
