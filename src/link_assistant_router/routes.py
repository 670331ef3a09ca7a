"""Every route the router answers, registered once: its method, path and handler, the name the
metrics count it under, and its traits (the error shape its clients expect; whether it gets an
access-log line and a count).

Each part offers its routes as ``Route`` values (``Probes.routes()``, ``TokenAdmin.routes()``,
...); the app adds them all with ``add_routes``, in order (the first route whose path matches
wins); the error boundary and the metrics read a request's route with ``route_of``. A request
that no route matches gets ``UNMATCHED``'s traits.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

__all__ = [
    "UNMATCHED",
    "ErrorShape",
    "Handler",
    "Route",
    "add_routes",
    "normal_target",
    "parse_extra_routes",
    "route_of",
]

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


_ENCODED = re.compile(r"%(2[eEfF])")


def normal_target(raw: str) -> str:
    """A request target in the one form routes match and the upstream is sent: the path part of
    an absolute-form target, ``%2E`` and ``%2F`` decoded, repeated slashes merged, ``.`` and
    ``..`` segments resolved (RFC 3986 §5.2.4); the query kept as it came. So no spelling of a
    path reaches a route (or the upstream) that its plain spelling would not."""
    path, mark, query = raw.partition("?")
    if path[:1] == "/" and "/." not in path and "//" not in path and "%2" not in path.lower():
        return raw  # already normal (nearly every request): no work
    if not path.startswith("/"):  # absolute-form (http://host/path) or something else
        scheme, sep, rest = path.partition("://")
        path = "/" + rest.partition("/")[2] if sep and "/" not in scheme else "/" + path
    path = _ENCODED.sub(lambda match: "." if match.group(1) in "2e2E" else "/", path)
    segments: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    trailing = "/" if path.endswith(("/", "/.", "/..")) and segments else ""
    return "/" + "/".join(segments) + trailing + mark + query


# Never forwarded, whatever the operator asks: the account's own business, not a key holder's.
FORBIDDEN_UPSTREAM = ("/v1/organizations", "/v1/oauth", "/v1/accounts", "/v1/messages/batches")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_SEGMENT = re.compile(r"^(\*|[A-Za-z0-9_.~:@-]+)$")


def parse_extra_routes(text: str) -> tuple[tuple[str, str], ...]:
    """``EXTRA_UPSTREAM_ROUTES``: comma-separated ``METHOD /v1/path`` pairs, ``*`` standing for
    one path segment -> (method, route pattern) pairs; ``ValueError`` saying what is wrong."""
    routes = []
    for item in text.split(","):
        if not item.strip():
            continue
        method, _, path = item.strip().partition(" ")
        method, path = method.upper(), path.strip()
        if method not in _METHODS:
            raise ValueError(f"{item.strip()!r}: the method must be one of {sorted(_METHODS)}")
        segments = path.split("/")[1:]
        if not path.startswith("/v1/") or not all(_SEGMENT.match(s) for s in segments):
            raise ValueError(f"{item.strip()!r}: the path must be /v1/... (plain segments or *)")
        if normal_target(path) != path or any(s in (".", "..") for s in segments):
            raise ValueError(f"{item.strip()!r}: the path must be in normal form")
        if any(path == p or path.startswith(p + "/") for p in FORBIDDEN_UPSTREAM):
            raise ValueError(f"{item.strip()!r}: that route is never forwarded")
        count = iter(range(len(segments)))
        pattern = "/" + "/".join(f"{{p{next(count)}}}" if s == "*" else s for s in segments)
        routes.append((method, pattern))
    return tuple(routes)


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
