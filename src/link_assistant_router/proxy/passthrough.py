"""The Anthropic API routes the router forwards as they are (the body byte for byte, the key
swapped for the account's credential), at ``/v1/...`` and under ``/api/latest/anthropic`` (a
base URL some clients are given). Nothing else reaches the upstream.

- ``POST /v1/messages``, ``POST /v1/messages/count_tokens``: every limit, the model included;
- ``GET /v1/models`` (Anthropic clients), ``GET /v1/models/{id}``: rate, concurrency, budgets;
- ``EXTRA_UPSTREAM_ROUTES`` (the operator's): rate, concurrency, budgets; refused to a key held
  to some models (the router cannot tell which model such a route uses).

Message batches have their own module (``batches.py``). Account, OAuth and organization
endpoints are never forwarded (``routes.parse_extra_routes`` refuses them). Anything else under
these prefixes is a 404 that says how an operator can allow it. Request targets arrive here in
normal form (``routes.normal_target``), so the path forwarded is the path matched.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from link_assistant_router.errors import NotFound, PermissionDenied
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.routes import Handler, Route

__all__ = ["LATEST_PREFIX", "passthrough_routes"]

LATEST_PREFIX = "/api/latest/anthropic"


def passthrough_routes(proxy: Proxy, extra: Iterable[tuple[str, str]] = ()) -> list[Route]:
    """The routes forwarded upstream, then the refusal of everything else under the prefixes
    (last: other parts' ``/v1`` routes, such as Vertex's or the batches', go before these)."""
    extra = list(extra)

    def forwarding(prefix: str, *, model_limits_apply: bool = True) -> Handler:
        async def forward(request: web.Request) -> web.StreamResponse:
            key = await proxy.authenticate(request)
            if not model_limits_apply and key.limits is not None and key.limits.models:
                raise PermissionDenied(
                    "this key may use only some models, and this route is not checked for "
                    "models (EXTRA_UPSTREAM_ROUTES): it is not open to the key"
                )
            target = request.raw_path[len(prefix) :]
            # Not kept in a name here: ``send`` lets go of the body once an answer is chosen.
            return await proxy.send(request, key, await proxy.outgoing(request, target))

        return forward

    routes = []
    for prefix in ("", LATEST_PREFIX):
        forward = forwarding(prefix)
        routes += [
            Route("POST", prefix + "/v1/messages", forward, "messages"),
            Route("POST", prefix + "/v1/messages/count_tokens", forward, "count_tokens"),
            Route("GET", prefix + "/v1/models/{model_id}", forward, "models"),
        ]
        if prefix:  # at /v1/models itself the model list serves both kinds of client
            routes.append(Route("GET", prefix + "/v1/models", forward, "models"))
        unchecked = forwarding(prefix, model_limits_apply=False)
        routes += [Route(method, prefix + pattern, unchecked, "extra") for method, pattern in extra]
    refuse = _refusal(extra)
    routes += [
        Route("*", "/v1/{tail:.*}", refuse, "other_v1"),
        Route("*", LATEST_PREFIX + "/{tail:.*}", refuse, "other"),
    ]
    return routes


def _refusal(extra: list[tuple[str, str]]) -> Handler:
    forwarded = ", ".join(
        [
            "POST /v1/messages",
            "POST /v1/messages/count_tokens",
            "GET /v1/models[/{id}]",
            *(f"{method} {pattern}" for method, pattern in extra),
        ]
    )

    async def refuse(request: web.Request) -> web.StreamResponse:
        raise NotFound(
            f"the router does not forward {request.method} {request.path[:200]}: it forwards "
            f"{forwarded}; an operator can allow more with EXTRA_UPSTREAM_ROUTES"
        )

    return refuse
