"""The store's limit counters (``key_windows``, ``key_minutes``, ``key_inflight``), for SQLite and
PostgreSQL (part of ``SqlStore``).

Budget windows (tokens and micro-dollars) are added to with the ledger's rows (``usage_sql``)
and read here. Per-minute
request grants and concurrency slots are written with statements that check and count in one
step; on PostgreSQL a transaction-scoped advisory lock per key makes a slot's count and insert
one decision across processes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from sqlalchemy import case, delete, func, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import WindowTokens
from link_assistant_router.storage.tables import key_inflight, key_minutes, key_windows

__all__ = ["LimitQueries"]

# Advisory locks are named by two integers: this one, then the key's CRC-32.
_PG_LIMITS_LOCK = 0x1A5C


class LimitQueries(Queries):
    """Mixed into ``SqlStore``: budget windows, per-minute grants and concurrency slots."""

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


async def _windows(conn: AsyncConnection, key_id: str) -> dict[str, WindowTokens]:
    rows = await conn.execute(select(key_windows).where(key_windows.c.key_id == key_id))
    return {
        row.name: WindowTokens(row.name, row.started_at, row.tokens, int(row.cost_micros))
        for row in rows
    }
