"""The store on SQLAlchemy 2 (async Core): SQLite through aiosqlite, PostgreSQL through asyncpg.

One set of queries serves both. ``SqlStore`` owns the engine (opening it applies the migrations)
and is composed of one mixin of queries per concern: keys, accounts, leases, usage, limits,
audit and console sessions (``*_sql.py``). Every SQLAlchemy or driver error is translated to
``StoreError`` at each method (``driver_errors.translated``), so nothing above this package knows
which database it runs on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from link_assistant_router.errors import StoreError
from link_assistant_router.storage.accounts_sql import AccountQueries
from link_assistant_router.storage.audit_sql import AuditQueries
from link_assistant_router.storage.batches_sql import BatchQueries
from link_assistant_router.storage.driver_errors import Breaker, translated
from link_assistant_router.storage.keys_sql import KeyQueries
from link_assistant_router.storage.leases_sql import LeaseQueries
from link_assistant_router.storage.limits_sql import LimitQueries
from link_assistant_router.storage.migrations import migrate
from link_assistant_router.storage.sessions_sql import SessionQueries
from link_assistant_router.storage.usage_sql import UsageQueries

__all__ = ["DEFAULT_TIMEOUT_S", "OPEN_TIMEOUT_S", "SqlStore", "open_store"]

DEFAULT_TIMEOUT_S = 5.0
# After a failure, how long calls fail at once before one tries the store again.
BREAKER_PAUSE_S = 1.0
OPEN_TIMEOUT_S = 60.0


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers in other workers proceed while one writes; busy_timeout makes a
    # second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class SqlStore(
    KeyQueries,
    AccountQueries,
    LeaseQueries,
    UsageQueries,
    LimitQueries,
    AuditQueries,
    BatchQueries,
    SessionQueries,
):
    """The ``Store`` for any SQLAlchemy async URL this router supports."""

    def __init__(self, url: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.breaker = Breaker(BREAKER_PAUSE_S)
        try:
            self._url = make_url(url)
        except ArgumentError as exc:
            raise StoreError("DATABASE_URL is not a valid SQLAlchemy URL") from exc
        if self._url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise StoreError(
                f"unsupported DATABASE_URL driver {self._url.drivername!r}: "
                "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://..."
            )
        self._engine: AsyncEngine | None = None

    @property
    def dialect(self) -> str:
        return self._url.get_backend_name()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise StoreError("the store is not open")
        return self._engine

    async def open(self) -> None:
        """Connect and migrate: under a deadline of its own (migrations may take long), with
        every later call under ``timeout_s``."""
        every_call, self.timeout_s = self.timeout_s, max(OPEN_TIMEOUT_S, self.timeout_s or 0)
        breaker, self.breaker = self.breaker, None  # start-up waits for the store, at most this
        try:
            await self._open(every_call)
        finally:
            self.timeout_s, self.breaker = every_call, breaker

    @translated
    async def _open(self, deadline: float | None) -> None:
        # The driver's own deadlines too: a frozen database holds sockets that an asyncio
        # timeout alone would leave behind in the pool.
        waits = {} if deadline is None else {"timeout": deadline}
        if self.dialect == "sqlite":
            database = self._url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # Created private: it holds key records and account secrets (SQLite gives its
                # -wal and -shm files the same mode).
                os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
            engine = create_async_engine(self._url, connect_args=waits)
            event.listen(engine.sync_engine, "connect", _tune_sqlite)
        else:
            engine = create_async_engine(
                self._url,
                pool_size=5,
                pool_pre_ping=True,
                pool_timeout=deadline or 30,
                connect_args={**waits, "command_timeout": deadline} if deadline else {},
            )
        try:
            async with engine.begin() as conn:
                await migrate(conn)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @translated
    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def open_store(url: str, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> SqlStore:
    """The store for a URL, not yet opened (call ``await store.open()``); every call on it
    fails with StoreError after ``timeout_s`` (None: no deadline)."""
    return SqlStore(url, timeout_s)
