"""The store's usage ledger and limit counters, for SQLite and PostgreSQL (part of ``SqlStore``).

Ledger rows are inserted in batches; whole days older than the retention are folded into
``usage_daily`` and deleted in one transaction, so a report reads each request exactly once,
from one table or the other. Per-minute request grants and concurrency slots are written with
statements that check and count in one step; on PostgreSQL a transaction-scoped advisory lock
per key makes a slot's count and insert one decision across processes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, case, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from link_assistant_router.limits import KeyLimits
from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.records import (
    USAGE_TOTALS,
    AuditRecord,
    KeyRecord,
    UsageQuery,
    UsageRow,
    WindowAddition,
    WindowTokens,
)
from link_assistant_router.storage.tables import (
    api_keys,
    audit_log,
    key_inflight,
    key_minutes,
    key_windows,
    usage_daily,
    usage_events,
)

DAY_S = 86400
_TOKEN_COLUMNS = USAGE_TOTALS[3:]
_PG_TYPES = {
    "request_id": "varchar",
    "at": "float8",
    "day": "integer",
    "key_id": "varchar",
    "account": "varchar",
    "model": "varchar",
    "session": "varchar",
    "client": "varchar",
    "route": "varchar",
    "status": "integer",
    "input_tokens": "bigint",
    "output_tokens": "bigint",
    "cache_creation_input_tokens": "bigint",
    "cache_read_input_tokens": "bigint",
    "ttfb_ms": "float8",
    "duration_ms": "float8",
    "error_type": "varchar",
    "complete": "smallint",
}
# Advisory locks are named by two integers: this one, then the key's CRC-32.
_PG_LIMITS_LOCK = 0x1A5C
_GROUP_COLUMNS = {"day": "day", "key": "key_id", "model": "model", "account": "account"}


class LedgerQueries:
    """Mixed into ``SqlStore``: ``engine``, ``dialect`` and ``get_key`` come from it."""

    @property
    def engine(self) -> AsyncEngine:
        raise NotImplementedError

    @property
    def dialect(self) -> str:
        raise NotImplementedError

    async def get_key(self, key_id: str) -> KeyRecord | None:
        raise NotImplementedError

    def _insert(self) -> Any:
        return sqlite_insert if self.dialect == "sqlite" else postgresql_insert

    @translated
    async def update_key(
        self, key_id: str, *, label: str | None = None, limits: KeyLimits | None = None
    ) -> KeyRecord | None:
        values: dict[str, Any] = {"limits": limits.to_json() if limits is not None else None}
        if label is not None:
            values["label"] = label
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(**values)
            )
        if not result.rowcount:
            return None
        return await self.get_key(key_id)

    @translated
    async def record_usage(
        self, rows: Sequence[UsageRow], windows: Sequence[WindowAddition]
    ) -> None:
        if not rows and not windows:
            return
        async with self.engine.begin() as conn:
            if rows:
                # One statement with one JSON parameter, unpacked by the database: no per-row
                # work in Python, and (on SQLite, in aiosqlite's thread) no lock handed back
                # and forth with the event loop for every row.
                document = orjson.dumps([tuple(row) for row in rows]).decode()
                await conn.exec_driver_sql(self._insert_usage_sql(), (document,))
            for addition in windows:
                await conn.execute(self._add_to_window(addition))

    def _insert_usage_sql(self) -> str:
        names = ", ".join(UsageRow._fields)
        if self.dialect == "postgresql":
            values = ", ".join(
                f"(r->>{number})::{_PG_TYPES[name]}" for number, name in enumerate(UsageRow._fields)
            )
            source = "jsonb_array_elements($1::jsonb) AS r"
        else:
            values = ", ".join(
                f"json_extract(value, '$[{number}]')" for number in range(len(UsageRow._fields))
            )
            source = "json_each(?)"
        return f"INSERT INTO usage_events ({names}) SELECT {values} FROM {source}"  # noqa: S608

    def _add_to_window(self, addition: WindowAddition) -> Any:
        statement = self._insert()(key_windows).values(
            key_id=addition.key_id,
            name=addition.name,
            started_at=addition.started_at,
            tokens=addition.tokens,
        )
        ended = key_windows.c.started_at < addition.fresh_after
        return statement.on_conflict_do_update(
            index_elements=[key_windows.c.key_id, key_windows.c.name],
            set_={
                "tokens": func.coalesce(
                    _case(ended, statement.excluded.tokens),
                    key_windows.c.tokens + statement.excluded.tokens,
                ),
                "started_at": func.coalesce(
                    _case(ended, statement.excluded.started_at), key_windows.c.started_at
                ),
            },
        )

    @translated
    async def window_tokens(self, key_id: str) -> dict[str, WindowTokens]:
        async with self.engine.connect() as conn:
            return await _windows(conn, key_id)

    @translated
    async def reserve_requests(self, key_id: str, minute: int, want: int, limit: int) -> int:
        # One statement: SET expressions see the row as it was, so "granted" is what this call
        # added; concurrent calls serialize on the row (both databases).
        left = literal(limit) - key_minutes.c.requests
        grant = case((left >= want, literal(want)), (left > 0, left), else_=literal(0))
        first = min(want, limit)
        statement = self._insert()(key_minutes).values(
            key_id=key_id, minute=minute, requests=first, granted=first
        )
        statement = statement.on_conflict_do_update(
            index_elements=[key_minutes.c.key_id, key_minutes.c.minute],
            set_={"requests": key_minutes.c.requests + grant, "granted": grant},
        ).returning(key_minutes.c.granted)
        async with self.engine.begin() as conn:
            return int((await conn.execute(statement)).scalar_one())

    @translated
    async def take_slot(
        self, key_id: str, slot: str, now: float, limit: int, lease_s: float
    ) -> bool:
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                lock = zlib.crc32(key_id.encode()) - 2**31  # the second int is signed 32-bit
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _PG_LIMITS_LOCK, "b": lock}
                )
            in_flight = (
                select(func.count())
                .select_from(key_inflight)
                .where(key_inflight.c.key_id == key_id, key_inflight.c.expires_at > now)
                .scalar_subquery()
            )
            # One statement: the count and the insert are one step in SQLite too.
            statement = insert(key_inflight).from_select(
                ["request_id", "key_id", "expires_at"],
                select(literal(slot), literal(key_id), literal(now + lease_s)).where(
                    in_flight < limit
                ),
            )
            result = await conn.execute(statement)
        return bool(result.rowcount)

    @translated
    async def renew_slots(self, slots: Sequence[str], until: float) -> None:
        if not slots:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(key_inflight)
                .where(key_inflight.c.request_id.in_(list(slots)))
                .values(expires_at=until)
            )

    @translated
    async def release(self, slots: Sequence[str]) -> None:
        if not slots:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(key_inflight).where(key_inflight.c.request_id.in_(list(slots)))
            )

    @translated
    async def purge_limit_counters(self, now: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(key_minutes).where(key_minutes.c.minute < int(now // 60)))
            await conn.execute(delete(key_inflight).where(key_inflight.c.expires_at <= now))

    @translated
    async def insert_audit(self, record: AuditRecord) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(audit_log).values(
                    id=record.id,
                    at=record.at,
                    action=record.action,
                    target=record.target[:200],
                    actor=record.actor,
                    request_id=record.request_id,
                    details=record.details,
                )
            )

    @translated
    async def list_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        statement = select(audit_log)
        if since is not None:
            statement = statement.where(audit_log.c.at >= since)
        if until is not None:
            statement = statement.where(audit_log.c.at < until)
        if action is not None:
            statement = statement.where(audit_log.c.action == action)
        if target is not None:
            statement = statement.where(audit_log.c.target == target)
        statement = statement.order_by(audit_log.c.at.desc(), audit_log.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = await conn.execute(statement)
            return [
                AuditRecord(
                    id=row.id,
                    at=row.at,
                    action=row.action,
                    target=row.target,
                    actor=row.actor,
                    request_id=row.request_id,
                    details=row.details,
                )
                for row in rows
            ]

    @translated
    async def usage_totals(self, query: UsageQuery) -> list[dict[str, object]]:
        group = _GROUP_COLUMNS.get(query.group_by or "")
        merged: dict[object, dict[str, object]] = {}
        async with self.engine.connect() as conn:
            for table, raw in ((usage_events, True), (usage_daily, False)):
                for row in await conn.execute(_totals_select(table, raw, query, group)):
                    mapping = row._mapping
                    value = mapping["grouped"] if group else None
                    total = merged.setdefault(
                        value, {name: 0 for name in USAGE_TOTALS} | {"group": value}
                    )
                    for name in USAGE_TOTALS:
                        total[name] = int(total[name]) + int(mapping[name] or 0)  # type: ignore[call-overload]
        return [merged[value] for value in sorted(merged, key=lambda v: (v is None, str(v)))]

    @translated
    async def roll_up_usage(self, before_day: int) -> int:
        keys = "day, key_id, account, model"
        sums = ", ".join(f"SUM({name})" for name in _TOKEN_COLUMNS)
        adds = ", ".join(
            f"{name} = usage_daily.{name} + excluded.{name}"
            for name in ("requests", "errors", "incomplete", *_TOKEN_COLUMNS)
        )
        # Only constant column names are formatted in. SQLite needs the WHERE before ON CONFLICT.
        fold = text(
            f"INSERT INTO usage_daily ({keys}, requests, errors, incomplete, "  # noqa: S608
            f"{', '.join(_TOKEN_COLUMNS)}) "
            f"SELECT {keys}, COUNT(*), "
            "SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END), "
            f"SUM(1 - complete), {sums} FROM usage_events WHERE at < :before "
            f"GROUP BY {keys} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {adds}"
        )
        async with self.engine.begin() as conn:
            # By time, not day number: the time index serves both statements.
            before = before_day * DAY_S
            await conn.execute(fold, {"before": before})
            result = await conn.execute(delete(usage_events).where(usage_events.c.at < before))
        return int(result.rowcount)


def _case(condition: Any, value: Any) -> Any:
    return case((condition, value))


async def _windows(conn: AsyncConnection, key_id: str) -> dict[str, WindowTokens]:
    rows = await conn.execute(select(key_windows).where(key_windows.c.key_id == key_id))
    return {row.name: WindowTokens(row.name, row.started_at, row.tokens) for row in rows}


def _totals_select(table: Any, raw: bool, query: UsageQuery, group: str | None) -> Any:
    c = table.c
    if raw:
        counts = [
            func.count().label("requests"),
            func.sum(_case(c.error_type.is_not(None), 1)).label("errors"),
            func.sum(1 - c.complete).label("incomplete"),
        ]
    else:
        counts = [func.sum(c[name]).label(name) for name in ("requests", "errors", "incomplete")]
    columns = counts + [func.sum(c[name]).label(name) for name in _TOKEN_COLUMNS]
    if group:
        columns.insert(0, c[group].label("grouped"))
    conditions = []
    if query.key_id is not None:
        conditions.append(c.key_id == query.key_id)
    if query.account is not None:
        conditions.append(c.account == query.account)
    if query.model is not None:
        conditions.append(c.model == query.model)
    if raw:
        if query.since is not None:
            conditions.append(c.at >= query.since)
        if query.until is not None:
            conditions.append(c.at < query.until)
    else:  # rollups hold whole days: a day counts when it starts inside the range
        if query.since is not None:
            conditions.append(c.day >= math.ceil(query.since / DAY_S))
        if query.until is not None:
            conditions.append(c.day < math.ceil(query.until / DAY_S))
    statement = select(*columns).select_from(table)
    if conditions:
        statement = statement.where(and_(*conditions))
    if group:
        statement = statement.group_by(c[group])
    return statement
