"""``create_app(settings)``: the parts wired together, their routes, the lifespan that opens and
closes resources, the boundary.

Nothing here runs at import. The parts (store, upstream client) are built from the settings
unless a caller passes its own, which is how tests put fakes at the seams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from link_assistant_router.accounts.oauth import OAuthClient
from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.refresher import Refresher
from link_assistant_router.accounts.scheduler import Scheduler
from link_assistant_router.accounts.vault import build_vault
from link_assistant_router.admin.accounts import AccountAdmin, account_routes
from link_assistant_router.admin.audit import audit_routes
from link_assistant_router.admin.common import AdminAccess
from link_assistant_router.admin.keys import TokenAdmin
from link_assistant_router.admin.metrics import MetricsEndpoint
from link_assistant_router.admin.usage import UsageApi
from link_assistant_router.boundary import error_boundary
from link_assistant_router.config import Settings
from link_assistant_router.console.guard import Guard
from link_assistant_router.console.kit import Parts
from link_assistant_router.console.sessions import CookieRules, SessionKeeper
from link_assistant_router.console.site import Console
from link_assistant_router.formats.aliases import ModelAliases, parse_aliases
from link_assistant_router.formats.cloud import CloudRoutes
from link_assistant_router.formats.families import Families, parse_max_output
from link_assistant_router.formats.openai_common import Rules
from link_assistant_router.formats.openai_routes import openai_routes
from link_assistant_router.formats.sealing import ReasoningSeal
from link_assistant_router.governance.audit import AuditLog
from link_assistant_router.governance.governor import Governor
from link_assistant_router.governance.keys import KeyService, load_signing_secret
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.governance.spill import SpillFile
from link_assistant_router.metrics import METRICS, Metrics
from link_assistant_router.peers import TRUSTED_PROXIES
from link_assistant_router.prices import read_prices
from link_assistant_router.probes import Probes
from link_assistant_router.proxy.batches import Batches
from link_assistant_router.proxy.passthrough import passthrough_routes
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.proxy.upstream import Upstream, UpstreamClient
from link_assistant_router.requestlog import REQUEST_FINISHED, RequestLog
from link_assistant_router.routes import Route, add_routes, parse_extra_routes
from link_assistant_router.storage.base import Store, lease_holder
from link_assistant_router.storage.sql import open_store

__all__ = [
    "BINDING_PURGE_S",
    "LAST_USED_FLUSH_S",
    "ROUTER",
    "SYNC_INTERVAL_S",
    "USAGE_FLUSH_S",
    "Router",
    "build_router",
    "create_app",
]

log = logging.getLogger(__name__)

SYNC_INTERVAL_S = 2.0
LAST_USED_FLUSH_S = 5.0
BINDING_PURGE_S = 600.0
USAGE_FLUSH_S = 0.5


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
    rules: Rules
    """How the translated formats translate (model families, the reasoning seal, tools)."""
    # Background work failing now -> when that was last logged.
    failing: dict[str, float] = field(default_factory=dict)

    def finished(self, entry: RequestLog) -> None:
        """What follows a finished request: for a proxied one, the ledger (which prices it);
        its metrics."""
        cost = 0
        if entry.key_id is not None:
            self.governor.release(entry)
            cost = self.ledger.record(entry)
        self.metrics.observe(entry, cost)


ROUTER = web.AppKey("router", Router)


def create_app(
    settings: Settings, *, store: Store | None = None, upstream: Upstream | None = None
) -> web.Application:
    """Build the application; resources open when it starts and close when it stops."""
    router = build_router(settings, store=store, upstream=upstream)
    app = web.Application(
        middlewares=[error_boundary], client_max_size=settings.max_request_body_bytes
    )
    app[ROUTER] = router
    app[METRICS] = router.metrics
    app[TRUSTED_PROXIES] = settings.trusted_proxy_networks
    app[REQUEST_FINISHED] = router.finished
    app.cleanup_ctx.append(_lifespan)
    routes = _routes(router)
    if settings.console:
        console = _console(router)
        console.setup(app)
        routes = console.routes() + routes
    add_routes(app, routes)
    return app


def _console(router: Router) -> Console:
    settings, store = router.settings, router.store
    sessions = SessionKeeper(
        store, settings.console_session_hours * 3600, CookieRules(settings.behind_tls_proxy)
    )
    access = AdminAccess(settings.token_admin_key, settings.admin_port)
    guard = Guard(access, sessions, router.keys, store)
    return Console(
        Parts(
            settings,
            store,
            router.keys,
            router.pool,
            router.accounts,
            router.upstream,
            router.governor,
            router.metrics,
            AuditLog(store),
            guard,
        )
    )


def build_router(
    settings: Settings, *, store: Store | None = None, upstream: Upstream | None = None
) -> Router:
    """The router's parts, wired together; nothing opens until the app starts."""
    the_store = (
        store if store is not None else open_store(settings.store_url, settings.store_timeout_s)
    )
    secret = load_signing_secret(settings)
    audit = AuditLog(the_store)
    keys = KeyService(the_store, secret, cache_ttl_s=settings.key_cache_ttl_s, audit=audit)
    vault = build_vault(settings, secret)
    pool = AccountPool(settings, the_store, vault, refresher=None, audit=audit)
    scheduler = Scheduler(
        settings.routing_strategy, the_store, sticky_ttl_s=settings.sticky_ttl_minutes * 60
    )
    metrics = Metrics(per_key=settings.metrics_per_key)
    client = upstream
    if client is None:
        client = UpstreamClient(
            settings.upstream_base_url,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            idle_timeout_s=settings.upstream_idle_timeout_s,
            max_connections=settings.upstream_max_connections,
            pool_timeout_s=settings.upstream_pool_timeout_s,
            on_busy=metrics.upstream_busy.inc,
        )
    holder = lease_holder()
    spill = None
    if settings.ledger_spill_mb:
        limit = int(settings.ledger_spill_mb * 1024 * 1024)
        spill = SpillFile(settings.data_dir / "ledger-spill", holder, limit)
    ledger = UsageLedger(
        the_store,
        cache_read_weight=settings.cache_read_weight,
        retention_days=settings.usage_retention_days,
        on_set_aside=metrics.ledger_rows_set_aside.inc,
        prices=read_prices(settings.prices_file),
        is_subscription=pool.is_subscription,
        spill=spill,
        on_dropped=metrics.ledger_rows_dropped.inc,
    )
    governor = Governor(
        the_store,
        ledger,
        on_reject=metrics.limit_rejected,
        when_store_down=settings.limits_when_store_down,
    )
    proxy = Proxy(
        keys,
        pool,
        scheduler,
        client,
        governor,
        max_body_bytes=settings.max_request_body_bytes,
        max_attempts=settings.max_attempts,
        overload_cooldown_s=settings.overload_cooldown_s,
        idle_timeout_s=settings.upstream_idle_timeout_s,
    )
    return Router(
        settings,
        the_store,
        keys,
        pool,
        scheduler,
        client,
        proxy,
        AccountAdmin(pool, the_store, vault, audit),
        ledger,
        governor,
        metrics,
        holder,
        Rules(
            Families(parse_max_output(settings.max_output_tokens)),
            ReasoningSeal.from_secret(secret),
            settings.unsupported_tools,
        ),
    )


def _routes(router: Router) -> list[Route]:
    """Every route, in matching order: the router's own, then the translated formats, then
    what passes through to the upstream."""
    settings, proxy, pool = router.settings, router.proxy, router.pool
    access = AdminAccess(settings.token_admin_key, settings.admin_port)
    token_admin = TokenAdmin(
        router.keys,
        access,
        account_names=lambda: [account.name for account in pool.accounts],
        group_names=lambda: [a.group for a in pool.accounts if a.group],
    )
    routes = [
        *Probes(router.store, pool, details_for=access.allows).routes(),
        *token_admin.routes(),
        *account_routes(router.accounts, router.upstream, access),
        *UsageApi(router.store, router.keys, router.governor, access).routes(),
        *audit_routes(router.store, access),
    ]
    if not settings.disable_metrics:
        routes += MetricsEndpoint(
            router.metrics, lambda: pool.accounts, access, upstream=router.upstream
        ).routes()
    aliases = ModelAliases(parse_aliases(settings.model_aliases), settings.default_model)
    routes += openai_routes(proxy, aliases, router.rules)
    routes += CloudRoutes(proxy, aliases).routes()  # before /v1/{tail}: Vertex paths
    if settings.batches:
        routes += Batches(proxy, router.store, router.governor, router.finished).routes()
    routes += passthrough_routes(proxy, parse_extra_routes(settings.extra_upstream_routes))
    return routes


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
        if router.ledger.spill is not None:
            router.ledger.spill.adopt_orphans()  # rows a stopped process left on disk
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
        if not await _quietly(router, "record usage", router.ledger.flush()):
            router.ledger.spill_everything()  # the next start sends them on
        await _quietly(router, "give back concurrency slots", router.governor.close())
        await _quietly(router, "record keys' last use", router.keys.flush_last_used())
        await _quietly(router, "save account counters", router.pool.sync())
        await router.pool.close()
        await oauth_session.close()
        await router.upstream.close()
    finally:
        if router.ledger.spill is not None:
            router.ledger.spill.close()
        await router.store.close()


async def _maintain(router: Router) -> None:
    """Background upkeep: shared account state, keys' last use, expired session bindings."""
    ticks = 0
    while True:
        await asyncio.sleep(SYNC_INTERVAL_S)
        ticks += 1
        await _quietly(router, "sync account state", router.pool.sync())
        if ticks % int(LAST_USED_FLUSH_S / SYNC_INTERVAL_S) == 0:
            await _quietly(router, "record keys' last use", router.keys.flush_last_used())
        if ticks % int(BINDING_PURGE_S / SYNC_INTERVAL_S) == 0:
            await _quietly(
                router, "purge session bindings", router.store.purge_bindings(time.time())
            )
            await _quietly(
                router, "purge console sessions", router.store.purge_sessions(time.time())
            )
            await _quietly(router, "roll up old usage", router.ledger.roll_up(router.holder))


async def _every_second(router: Router) -> None:
    """Write the usage ledger twice a second (a hard kill loses at most the last second); count
    the requests noted for the metrics; tend the concurrency slots this process holds."""
    while True:
        await asyncio.sleep(USAGE_FLUSH_S)
        router.metrics.fold()
        await _quietly(router, "record usage", router.ledger.flush())
        await _quietly(router, "tend concurrency slots", router.governor.tick())


_REPEAT_S = 60.0


async def _quietly(router: Router, what: str, work: Awaitable[object]) -> bool:
    """Run background work; the store may be briefly away, so failures are logged (once a
    minute while they go on, and when they end), not raised. True when it succeeded."""
    try:
        await work
    except Exception as exc:
        now = time.monotonic()
        if now - router.failing.get(what, float("-inf")) >= _REPEAT_S:
            log.warning("could not %s: %s", what, exc)
            router.failing[what] = now
        return False
    if router.failing.pop(what, None) is not None:
        log.info("%s: working again", what)
    return True
