"""``create_app(settings)``: the routes, the lifespan that opens and closes resources, the boundary.

Nothing here runs at import. The parts (store, upstream client) are built from the settings
unless a caller passes its own, which is how tests put fakes at the seams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from link_assistant_router.accounts.oauth import OAuthClient
from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.refresher import Refresher
from link_assistant_router.accounts.scheduler import Scheduler
from link_assistant_router.accounts.vault import build_vault
from link_assistant_router.admin.accounts import AccountAdmin, account_routes
from link_assistant_router.admin.audit import audit_routes
from link_assistant_router.admin.keys import TokenAdmin
from link_assistant_router.admin.usage import UsageApi
from link_assistant_router.boundary import error_boundary
from link_assistant_router.config import Settings
from link_assistant_router.formats.aliases import ModelAliases, parse_aliases
from link_assistant_router.formats.cloud import CloudRoutes
from link_assistant_router.formats.openai_routes import ChatCompletions, Models, Responses
from link_assistant_router.governance.audit import AuditLog
from link_assistant_router.governance.governor import Governor
from link_assistant_router.governance.keys import KeyService, load_signing_secret
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.metrics import METRICS, Metrics, MetricsEndpoint
from link_assistant_router.probes import Probes
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.proxy.upstream import Upstream, UpstreamClient
from link_assistant_router.requestlog import REQUEST_FINISHED, RequestLog
from link_assistant_router.storage.base import Store, lease_holder
from link_assistant_router.storage.sql import open_store

log = logging.getLogger(__name__)

LATEST_PREFIX = "/api/latest/anthropic"
SYNC_INTERVAL_S = 2.0
LAST_USED_FLUSH_S = 5.0
BINDING_PURGE_S = 600.0
USAGE_FLUSH_S = 1.0


@dataclass(frozen=True)
class Router:
    """The parts of one running router, reachable from the app as ``app[ROUTER]``."""

    settings: Settings
    store: Store
    keys: KeyService
    pool: AccountPool
    scheduler: Scheduler
    upstream: Upstream
    proxy: Proxy
    accounts: AccountAdmin
    ledger: UsageLedger
    governor: Governor
    metrics: Metrics
    holder: str


ROUTER = web.AppKey("router", Router)


def create_app(
    settings: Settings, *, store: Store | None = None, upstream: Upstream | None = None
) -> web.Application:
    """Build the application; resources open when it starts and close when it stops."""
    the_store = store if store is not None else open_store(settings.store_url)
    secret = load_signing_secret(settings)
    audit = AuditLog(the_store)
    keys = KeyService(the_store, secret, cache_ttl_s=settings.key_cache_ttl_s, audit=audit)
    vault = build_vault(settings, secret)
    pool = AccountPool(settings, the_store, vault, refresher=None, audit=audit)
    scheduler = Scheduler(
        settings.routing_strategy, the_store, sticky_ttl_s=settings.sticky_ttl_minutes * 60
    )
    client = upstream
    if client is None:
        client = UpstreamClient(
            settings.upstream_base_url,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            idle_timeout_s=settings.upstream_idle_timeout_s,
            max_connections=settings.upstream_max_connections,
        )
    ledger = UsageLedger(
        the_store,
        cache_read_weight=settings.cache_read_weight,
        retention_days=settings.usage_retention_days,
    )
    metrics = Metrics(per_key=settings.metrics_per_key)
    governor = Governor(the_store, ledger, on_reject=metrics.limit_rejected)
    proxy = Proxy(
        keys,
        pool,
        scheduler,
        client,
        governor,
        max_body_bytes=settings.max_request_body_bytes,
        max_attempts=settings.max_attempts,
        overload_cooldown_s=settings.overload_cooldown_s,
    )
    accounts = AccountAdmin(pool, the_store, vault, audit)
    router = Router(
        settings,
        the_store,
        keys,
        pool,
        scheduler,
        client,
        proxy,
        accounts,
        ledger,
        governor,
        metrics,
        lease_holder(),
    )

    app = web.Application(
        middlewares=[error_boundary], client_max_size=settings.max_request_body_bytes
    )
    app[ROUTER] = router
    app[METRICS] = metrics

    def finished(entry: RequestLog) -> None:
        metrics.observe(entry)
        if entry.key_id is not None:  # a proxied request: the ledger's
            governor.release(entry)
            ledger.record(entry)

    app[REQUEST_FINISHED] = finished
    app.cleanup_ctx.append(_lifespan)

    async def forward_v1(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path)

    async def forward_latest(request: web.Request) -> web.StreamResponse:
        return await proxy.forward(request, request.raw_path[len(LATEST_PREFIX) :])

    app.add_routes(Probes(the_store, pool).routes())
    app.add_routes(
        TokenAdmin(
            keys,
            settings.token_admin_key,
            account_names=lambda: [account.name for account in pool.accounts],
            group_names=lambda: [a.group for a in pool.accounts if a.group],
        ).routes()
    )
    app.add_routes(account_routes(accounts, client, settings.token_admin_key))
    app.add_routes(UsageApi(the_store, keys, governor, settings.token_admin_key).routes())
    app.add_routes(audit_routes(the_store, settings.token_admin_key))
    if not settings.disable_metrics:
        endpoint = MetricsEndpoint(metrics, lambda: pool.accounts, settings.token_admin_key)
        app.router.add_get("/metrics", endpoint.handle)
    aliases = ModelAliases(parse_aliases(settings.model_aliases))
    app.router.add_post("/v1/chat/completions", ChatCompletions(proxy, aliases).handle)
    app.router.add_post("/v1/responses", Responses(proxy, aliases).handle)
    app.add_routes(CloudRoutes(proxy, aliases).routes())  # before /v1/{tail}: Vertex paths
    app.router.add_get("/v1/models", Models(proxy, aliases).handle)
    app.router.add_route("*", "/v1/{tail:.*}", forward_v1)
    app.router.add_route("*", LATEST_PREFIX + "/{tail:.*}", forward_latest)
    return app


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    router = app[ROUTER]
    settings = router.settings
    await router.store.open()
    try:
        await router.upstream.open()
        oauth_session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        oauth = OAuthClient(oauth_session, settings.oauth_token_url, settings.oauth_client_id)
        router.pool.use_refresher(
            Refresher(
                router.store,
                oauth,
                holder=router.holder,
                margin_s=settings.refresh_margin_s,
                on_outcome=router.metrics.refreshed,
            )
        )
        await router.pool.load()
        for warning in settings.warnings():
            log.warning("%s", warning)
        now = time.time()
        for account in router.pool.accounts:
            why = account.unavailable_reason(now)
            if why:
                log.warning("account %s cannot serve yet: %s", account.name, why)
        maintenance = asyncio.create_task(_maintain(router))
        flushing = asyncio.create_task(_every_second(router))
        yield
        for task in (maintenance, flushing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await _quietly("record usage", router.ledger.flush())
        await _quietly("give back concurrency slots", router.governor.close())
        await _quietly("record keys' last use", router.keys.flush_last_used())
        await _quietly("save account counters", router.pool.sync())
        await router.pool.close()
        await oauth_session.close()
        await router.upstream.close()
    finally:
        await router.store.close()


async def _maintain(router: Router) -> None:
    """Background upkeep: shared account state, keys' last use, expired session bindings."""
    ticks = 0
    while True:
        await asyncio.sleep(SYNC_INTERVAL_S)
        ticks += 1
        await _quietly("sync account state", router.pool.sync())
        if ticks % int(LAST_USED_FLUSH_S / SYNC_INTERVAL_S) == 0:
            await _quietly("record keys' last use", router.keys.flush_last_used())
        if ticks % int(BINDING_PURGE_S / SYNC_INTERVAL_S) == 0:
            await _quietly("purge session bindings", router.store.purge_bindings(time.time()))
            await _quietly("roll up old usage", router.ledger.roll_up(router.holder))


async def _every_second(router: Router) -> None:
    """Write the usage ledger (a hard kill loses at most the last second); tend the
    concurrency slots this process holds."""
    while True:
        await asyncio.sleep(USAGE_FLUSH_S)
        await _quietly("record usage", router.ledger.flush())
        await _quietly("tend concurrency slots", router.governor.tick())


async def _quietly(what: str, work: Awaitable[object]) -> None:
    """Run background work; the store may be briefly away, so failures are logged, not raised."""
    try:
        await work
    except Exception as exc:
        log.warning("could not %s: %s", what, exc)
