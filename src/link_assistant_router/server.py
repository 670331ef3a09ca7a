"""Running the router: one process, or several workers sharing the port with SO_REUSEPORT.

Each worker is a separate process with its own event loop (uvloop where available). The parent
prepares what the workers must agree on before starting them: the signing secret (generated
once) and the store's schema (migrated once); everything else they share lives in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import shutil
import signal
import tempfile
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from link_assistant_router.app import create_app
from link_assistant_router.config import Settings
from link_assistant_router.connections import ConnectionRules, make_runner
from link_assistant_router.errors import ConfigError
from link_assistant_router.garbage import Collector
from link_assistant_router.governance.keys import load_signing_secret
from link_assistant_router.logs import configure_logging
from link_assistant_router.metrics import MULTIPROC_ENV
from link_assistant_router.storage.sql import open_store

__all__ = ["connection_rules", "raise_open_file_limit", "run_loop", "serve", "warn_if_readable"]

log = logging.getLogger(__name__)

# A worker that dies sooner than this after starting is failing to start, not crashing.
_MIN_WORKER_LIFETIME_S = 5.0


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        try:
            import uvloop
        except ImportError:  # no uvloop on this platform
            asyncio.run(main)
        else:
            uvloop.run(main)
    finally:
        # Log lines wait for each other while a loop runs (``logs.LineHandler``); a worker
        # process ends without logging's shutdown, so nothing may be left waiting.
        for handler in logging.getLogger().handlers:
            handler.flush()


def connection_rules(settings: Settings) -> ConnectionRules:
    return ConnectionRules(
        header_timeout_s=settings.client_header_timeout_s,
        keepalive_s=settings.client_keepalive_s,
        max_connections=settings.max_client_connections,
    )


async def _prepare_store(settings: Settings) -> None:
    store = open_store(settings.store_url, settings.store_timeout_s)
    await store.open()
    await store.close()


async def _serve(settings: Settings) -> None:
    runner = make_runner(create_app(settings), connection_rules(settings))
    await runner.setup()
    try:
        site = web.TCPSite(
            runner,
            settings.router_host,
            settings.router_port,
            reuse_port=settings.workers > 1,
            backlog=1024,
        )
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {settings.router_host}:{settings.router_port}: {exc.strerror}"
            ) from exc
        await _start_admin_listener(runner, settings)
        # What start-up built lives as long as the process, and so does what an open stream
        # holds while it lasts: keep both out of the collections that stall the loop.
        collecting = asyncio.create_task(Collector().run())
        log.info(
            "listening on http://%s:%d (upstream %s)",
            settings.router_host,
            settings.router_port,
            settings.upstream_base_url,
        )
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        log.info("shutting down")
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
    finally:
        await runner.cleanup()


async def _start_admin_listener(runner: web.AppRunner, settings: Settings) -> None:
    """The admin listener: ADMIN_PORT on 127.0.0.1 and ::1 (where the machine has IPv6)."""
    if not settings.admin_port:
        return
    for host in ("127.0.0.1", "::1"):
        site = web.TCPSite(runner, host, settings.admin_port, reuse_port=settings.workers > 1)
        try:
            await site.start()
        except OSError as exc:
            if host == "::1" and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                continue  # no IPv6 loopback here
            raise ConfigError(
                f"cannot listen on {host} port {settings.admin_port} (ADMIN_PORT): {exc.strerror}"
            ) from exc
    log.info("admin API on http://127.0.0.1:%d", settings.admin_port)


def _worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_loop(_serve(settings))
    except ConfigError as exc:
        log.error("%s", exc.message)
        raise SystemExit(1) from exc


def warn_if_readable(settings: Settings) -> list[str]:
    """Warnings for a DATA_DIR (or the secrets in it) that other users can read."""
    found = []
    for path in (
        settings.data_dir,
        settings.data_dir / "router.db",
        settings.data_dir / "token_secret",
    ):
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            fix = "chmod 700" if path.is_dir() else "chmod 600"
            found.append(f"{path} is open to other users (mode {mode:o}): {fix} it")
    for warning in found:
        log.warning("%s", warning)
    return found


def raise_open_file_limit(settings: Settings) -> int:
    """Raise this process's open-file limit to its hard limit (every worker inherits it); warn
    when even that is below what the connection settings need. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    # Each client connection and each upstream request hold a descriptor; some to spare.
    needed = settings.max_client_connections + settings.upstream_max_connections + 256
    if soft < needed:
        log.warning(
            "the open-file limit is %d, below the %d that MAX_CLIENT_CONNECTIONS and "
            "UPSTREAM_MAX_CONNECTIONS may need: raise it (systemd LimitNOFILE, docker --ulimit "
            "nofile) or lower those settings",
            soft,
            needed,
        )
    return soft


def serve(settings: Settings) -> None:
    """Run the router until SIGTERM or SIGINT."""
    configure_logging(settings.log_level, settings.log_format)
    warn_if_readable(settings)
    raise_open_file_limit(settings)
    load_signing_secret(settings)
    run_loop(_prepare_store(settings))
    if settings.workers == 1:
        run_loop(_serve(settings))
        return
    _supervise(settings)


def _supervise(settings: Settings) -> None:
    """Run the workers, sharing a fresh metrics directory; restart one that dies."""
    metrics_dir = tempfile.mkdtemp(prefix="lar-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # read by the workers as they start (spawned)
    try:
        _run_workers(settings, metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_workers(settings: Settings, metrics_dir: str) -> None:
    """Run the workers; restart one that dies, unless workers keep dying at start-up."""
    from prometheus_client.multiprocess import mark_process_dead

    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(number: int) -> multiprocessing.process.BaseProcess:
        worker = context.Process(target=_worker, args=(settings,), name=f"router-worker-{number}")
        worker.start()
        return worker

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive():
                worker.terminate()

    workers = [start(number) for number in range(settings.workers)]
    started_at = [time.monotonic()] * len(workers)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("started %d workers", len(workers))
    while not stopping:
        multiprocessing.connection.wait([worker.sentinel for worker in workers], timeout=1.0)
        for number, worker in enumerate(workers):
            if stopping or worker.is_alive():
                continue
            if time.monotonic() - started_at[number] < _MIN_WORKER_LIFETIME_S:
                log.error(
                    "worker %d exited at start-up (code %s); stopping", number, worker.exitcode
                )
                stop(signal.SIGTERM, None)
                for other in workers:
                    other.join()
                raise SystemExit(1)
            log.error("worker %d exited (code %s); starting a new one", number, worker.exitcode)
            if worker.pid is not None:
                mark_process_dead(worker.pid, metrics_dir)  # type: ignore[no-untyped-call]
            workers[number] = start(number)
            started_at[number] = time.monotonic()
    for worker in workers:
        worker.join()
