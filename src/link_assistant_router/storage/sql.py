"""The store on SQLAlchemy 2 (async Core): SQLite through aiosqlite, PostgreSQL through asyncpg.

One set of queries serves both. Every SQLAlchemy or driver error is translated to
``StoreError`` here, so nothing above this module knows which database it runs on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from link_assistant_router.errors import StoreError
from link_assistant_router.limits import limits_from_json
from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.migrations import migrate
from link_assistant_router.storage.records import AccountRecord, AccountStateRecord, KeyRecord
from link_assistant_router.storage.tables import (
    account_state,
    accounts,
    api_keys,
    leases,
    sticky_sessions,
)
from link_assistant_router.storage.usage_sql import LedgerQueries


def _record(row: Row[Any]) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        label=row.label,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        account=row.account,
        group=row.group_name,
        limits=limits_from_json(row.limits),
    )


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers in other workers proceed while one writes; busy_timeout makes a
    # second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class SqlStore(LedgerQueries):
    """The ``Store`` for any SQLAlchemy async URL this router supports."""

    def __init__(self, url: str) -> None:
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

    @translated
    async def open(self) -> None:
        if self.dialect == "sqlite":
            database = self._url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            engine = create_async_engine(self._url)
            event.listen(engine.sync_engine, "connect", _tune_sqlite)
        else:
            engine = create_async_engine(self._url, pool_size=5, pool_pre_ping=True)
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

    @translated
    async def insert_key(self, record: KeyRecord) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    id=record.id,
                    label=record.label,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    revoked_at=record.revoked_at,
                    last_used_at=record.last_used_at,
                    account=record.account,
                    group_name=record.group,
                    limits=record.limits.to_json() if record.limits is not None else None,
                )
            )

    @translated
    async def get_key(self, key_id: str) -> KeyRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return _record(row) if row is not None else None

    @translated
    async def list_keys(self) -> list[KeyRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(api_keys).order_by(api_keys.c.created_at.desc(), api_keys.c.id)
            )
            return [_record(row) for row in rows]

    @translated
    async def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id)
                .values(revoked_at=func.coalesce(api_keys.c.revoked_at, at))
            )
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return _record(row) if row is not None else None

    @translated
    async def touch_keys(self, last_used: Mapping[str, float]) -> None:
        if not last_used:
            return

        statement = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("key_id"))
            .where(
                or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < bindparam("at"))
            )
            .values(last_used_at=bindparam("at"))
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                statement, [{"key_id": key, "at": at} for key, at in last_used.items()]
            )

    def _upsert(self, table: Table, values: dict[str, Any], keep: tuple[str, ...] = ()) -> Any:
        """INSERT ... ON CONFLICT (primary key) DO UPDATE, in this database's dialect."""
        insert = sqlite_insert if self.dialect == "sqlite" else postgresql_insert
        statement = insert(table).values(**values)
        key = [column.name for column in table.primary_key.columns]
        updates = {
            name: statement.excluded[name]
            for name in values
            if name not in key and name not in keep
        }
        return statement.on_conflict_do_update(index_elements=key, set_=updates)

    @translated
    async def list_accounts(self) -> list[AccountRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(accounts).order_by(accounts.c.created_at))
            return [
                AccountRecord(
                    name=row.name,
                    kind=row.kind,
                    priority=row.priority,
                    weight=row.weight,
                    group=row.group_name,
                    claude_home=row.claude_home,
                    secret=row.secret,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    @translated
    async def insert_account(self, record: AccountRecord) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                accounts.insert().values(
                    name=record.name,
                    kind=record.kind,
                    priority=record.priority,
                    weight=record.weight,
                    group_name=record.group,
                    claude_home=record.claude_home,
                    secret=record.secret,
                    created_at=record.created_at,
                )
            )

    @translated
    async def delete_account(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(accounts).where(accounts.c.name == name))
            await conn.execute(delete(account_state).where(account_state.c.name == name))
            await conn.execute(delete(sticky_sessions).where(sticky_sessions.c.account == name))
        return bool(result.rowcount)

    @translated
    async def load_account_states(self) -> dict[str, AccountStateRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(account_state))
            return {
                row.name: AccountStateRecord(
                    name=row.name,
                    state=row.state,
                    reason=row.reason,
                    cooldown_until=row.cooldown_until,
                    login_fingerprint=row.login_fingerprint,
                    quota=row.quota,
                    requests=row.requests,
                    last_error=row.last_error,
                    updated_at=row.updated_at,
                )
                for row in rows
            }

    @translated
    async def save_account_state(self, record: AccountStateRecord) -> None:
        values = {
            "name": record.name,
            "state": record.state,
            "reason": _clip(record.reason),
            "cooldown_until": record.cooldown_until,
            "login_fingerprint": record.login_fingerprint,
            "quota": record.quota,
            "requests": 0,
            "last_error": _clip(record.last_error),
            "updated_at": record.updated_at,
        }
        async with self.engine.begin() as conn:
            await conn.execute(self._upsert(account_state, values, keep=("requests",)))

    @translated
    async def save_account_quota(self, name: str, quota: str | None, at: float) -> None:
        values = {"name": name, "state": "ready", "quota": quota, "requests": 0, "updated_at": at}
        statement = self._upsert(account_state, values, keep=("state", "requests"))
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    @translated
    async def add_account_requests(self, counts: Mapping[str, int]) -> None:
        insert = sqlite_insert if self.dialect == "sqlite" else postgresql_insert
        async with self.engine.begin() as conn:
            for name, delta in counts.items():
                statement = insert(account_state).values(
                    name=name, state="ready", requests=delta, updated_at=0.0
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[account_state.c.name],
                        set_={"requests": account_state.c.requests + statement.excluded.requests},
                    )
                )

    @translated
    async def get_binding(self, session: str, now: float) -> str | None:
        async with self.engine.connect() as conn:
            account = await conn.scalar(
                select(sticky_sessions.c.account)
                .where(sticky_sessions.c.session == session)
                .where(sticky_sessions.c.expires_at > now)
            )
        return str(account) if account is not None else None

    @translated
    async def put_binding(self, session: str, account: str, expires_at: float) -> None:
        values = {"session": session, "account": account, "expires_at": expires_at}
        async with self.engine.begin() as conn:
            await conn.execute(self._upsert(sticky_sessions, values))

    @translated
    async def purge_bindings(self, now: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(sticky_sessions).where(sticky_sessions.c.expires_at <= now)
            )
        return int(result.rowcount)

    @translated
    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        insert = sqlite_insert if self.dialect == "sqlite" else postgresql_insert
        statement = insert(leases).values(name=name, holder=holder, expires_at=now + ttl_s)
        statement = statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": holder, "expires_at": now + ttl_s},
            where=or_(leases.c.expires_at <= now, leases.c.holder == holder),
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
            current = await conn.scalar(select(leases.c.holder).where(leases.c.name == name))
        return bool(current == holder)

    @translated
    async def release_lease(self, name: str, holder: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(leases).where(leases.c.name == name).where(leases.c.holder == holder)
            )


def _clip(text: str | None, limit: int = 500) -> str | None:
    return text[:limit] if text is not None else None


def open_store(url: str) -> SqlStore:
    """The store for a URL, not yet opened (call ``await store.open()``)."""
    return SqlStore(url)
