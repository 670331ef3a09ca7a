"""Every route the router answers, registered once: its method, path and handler, the name the
metrics count it under, and its traits (the error shape its clients expect; whether it gets an
access-log line and a count).

Each part offers its routes as ``Route`` values (``Probes.routes()``, ``TokenAdmin.routes()``,
...); the app adds them all with ``add_routes``, in order (the first route whose path matches
wins); the error boundary and the metrics read a request's route with ``route_of``. A request
that no route matches gets ``UNMATCHED``'s traits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

__all__ = ["UNMATCHED", "ErrorShape", "Handler", "Route", "add_routes", "route_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# "openai_unless_anthropic": OpenAI's shape unless the client sent ``anthropic-version``
# (``GET /v1/models`` serves both kinds of client); "html": a page, for the console's browsers.
ErrorShape = Literal["anthropic", "openai", "openai_unless_anthropic", "html"]


@dataclass(frozen=True, slots=True)
class Route:
    """One route: ``GET`` routes answer ``HEAD`` too; ``*`` takes every method."""

    method: str
    path: str
    handler: Handler
    name: str  # the metrics' ``route`` label: bounded, never a raw path
    errors: ErrorShape = "anthropic"
    logged: bool = True  # probes and scrapes come every few seconds: no line, no count


async def _unmatched(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound()


UNMATCHED = Route("*", "", _unmatched, "other")

_TABLE = web.AppKey("routes", dict[AbstractRoute, Route])


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue``: go on, unless the announced body is over the limit; then no
    ``100 Continue`` is sent, and the handler refuses the request (413) without reading it."""
    length = request.content_length
    if length is not None and length > request.client_max_size:
        return
    if request.version >= (1, 1):
        if request.headers.get("expect", "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text="only Expect: 100-continue is understood")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # what follows is the answer itself


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Add ``routes`` to ``app``'s router, remembering each one's name and traits."""
    table = app.setdefault(_TABLE, {})
    for route in routes:
        resource = app.router.add_resource(route.path)
        if route.method == "GET":
            table[resource.add_route("HEAD", route.handler, expect_handler=_expect)] = route
        table[resource.add_route(route.method, route.handler, expect_handler=_expect)] = route


def route_of(request: web.Request) -> Route:
    """The route ``request`` matched (``UNMATCHED`` when none did)."""
    table = request.app.get(_TABLE)
    if table is None:
        return UNMATCHED
    return table.get(request.match_info.route, UNMATCHED)
