"""The Anthropic API routes passed through to the upstream as they are (the body byte for byte,
the key swapped for the account's credential), at ``/v1/...`` and under
``/api/latest/anthropic`` (a base URL some clients are given)."""

from __future__ import annotations

from aiohttp import web

from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.routes import Route

__all__ = ["LATEST_PREFIX", "passthrough_routes"]

LATEST_PREFIX = "/api/latest/anthropic"


def passthrough_routes(proxy: Proxy) -> list[Route]:
    """Messages and token counting by name, then every other ``/v1`` path (last: other parts'
    ``/v1`` routes, such as Vertex's, must be added before these)."""

    async def forward_v1(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path)

    async def forward_latest(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path[len(LATEST_PREFIX) :])

    routes = []
    for prefix, forward in (("", forward_v1), (LATEST_PREFIX, forward_latest)):
        routes += [
            Route("POST", prefix + "/v1/messages", forward, "messages"),
            Route("POST", prefix + "/v1/messages/count_tokens", forward, "count_tokens"),
            Route("*", prefix + "/v1/{tail:.*}", forward, "other_v1"),
        ]
    routes.append(Route("*", LATEST_PREFIX + "/{tail:.*}", forward_latest, "other"))
    return routes
