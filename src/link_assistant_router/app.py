"""``create_app(settings)``: the routes, the lifespan that opens and closes resources, the boundary.

Nothing here runs at import. The parts (store, upstream client, credential source) are built
from the settings unless a caller passes its own, which is how tests put fakes at the seams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from link_assistant_router.admin import TokenAdmin
from link_assistant_router.boundary import error_boundary
from link_assistant_router.config import Settings
from link_assistant_router.credentials import CredentialSource, credential_source
from link_assistant_router.keys import KeyService, load_signing_secret
from link_assistant_router.probes import Probes
from link_assistant_router.proxy import Proxy
from link_assistant_router.storage import Store, open_store
from link_assistant_router.upstream import Upstream, UpstreamClient

log = logging.getLogger(__name__)

LATEST_PREFIX = "/api/latest/anthropic"
LAST_USED_FLUSH_S = 5.0


@dataclass(frozen=True)
class Router:
    """The parts of one running router, reachable from the app as ``app[ROUTER]``."""

    settings: Settings
    store: Store
    keys: KeyService
    credentials: CredentialSource
    upstream: Upstream
    proxy: Proxy


ROUTER = web.AppKey("router", Router)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    upstream: Upstream | None = None,
    credentials: CredentialSource | None = None,
) -> web.Application:
    """Build the application; resources open when it starts and close when it stops."""
    the_store = store if store is not None else open_store(settings.store_url)
    keys = KeyService(
        the_store, load_signing_secret(settings), cache_ttl_s=settings.key_cache_ttl_s
    )
    source = credentials if credentials is not None else credential_source(settings)
    client = upstream
    if client is None:
        client = UpstreamClient(
            settings.upstream_base_url,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            idle_timeout_s=settings.upstream_idle_timeout_s,
            max_connections=settings.upstream_max_connections,
        )
    proxy = Proxy(keys, source, client, settings.max_request_body_bytes)
    router = Router(settings, the_store, keys, source, client, proxy)

    app = web.Application(
        middlewares=[error_boundary], client_max_size=settings.max_request_body_bytes
    )
    app[ROUTER] = router
    app.cleanup_ctx.append(_lifespan)

    async def forward_v1(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path)

    async def forward_latest(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path[len(LATEST_PREFIX) :])

    probes = Probes(the_store, source)
    app.add_routes(probes.routes())
    app.add_routes(TokenAdmin(keys, settings.token_admin_key).routes())
    app.router.add_route("*", "/v1/{tail:.*}", forward_v1)
    app.router.add_route("*", LATEST_PREFIX + "/{tail:.*}", forward_latest)
    return app


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    router = app[ROUTER]
    await router.store.open()
    try:
        await router.upstream.open()
        flusher = asyncio.create_task(_flush_last_used(router.keys))
        for warning in router.settings.warnings():
            log.warning("%s", warning)
        router.credentials.describe()  # reads the login now, so its state is logged at start
        yield
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await _final_flush(router.keys)
        await router.upstream.close()
    finally:
        await router.store.close()


async def _flush_last_used(keys: KeyService) -> None:
    while True:
        await asyncio.sleep(LAST_USED_FLUSH_S)
        try:
            await keys.flush_last_used()
        except Exception as exc:  # the store may be briefly away; try again next time
            log.warning("could not record keys' last use: %s", exc)


async def _final_flush(keys: KeyService) -> None:
    try:
        await keys.flush_last_used()
    except Exception as exc:
        log.warning("could not record keys' last use at shutdown: %s", exc)
