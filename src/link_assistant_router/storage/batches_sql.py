"""The store's message batches (``message_batches``), for SQLite and PostgreSQL (part of
``SqlStore``): which key owns a batch, on which account, and whether its results were counted.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import BatchRecord
from link_assistant_router.storage.tables import message_batches

__all__ = ["BatchQueries"]


class BatchQueries(Queries):
    """Mixed into ``SqlStore``: recording batches, finding a key's, counting results once."""

    @translated
    async def insert_batch(self, record: BatchRecord) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(message_batches).values(
                    id=record.id,
                    key_id=record.key_id,
                    account=record.account,
                    created_at=record.created_at,
                    worst_case_tokens=record.worst_case_tokens,
                    counted_at=record.counted_at,
                )
            )

    @translated
    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        statement = select(message_batches).where(message_batches.c.id == batch_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else BatchRecord(**row._mapping)

    @translated
    async def list_batches(self, key_id: str, limit: int) -> list[BatchRecord]:
        statement = (
            select(message_batches)
            .where(message_batches.c.key_id == key_id)
            .order_by(message_batches.c.created_at.desc(), message_batches.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [BatchRecord(**row._mapping) for row in await conn.execute(statement)]

    @translated
    async def uncounted_batch_tokens(self, key_id: str) -> int:
        statement = select(func.coalesce(func.sum(message_batches.c.worst_case_tokens), 0)).where(
            message_batches.c.key_id == key_id, message_batches.c.counted_at.is_(None)
        )
        async with self.engine.connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    @translated
    async def mark_batch_counted(self, batch_id: str, at: float) -> bool:
        """True for the one caller that marks it (its results are counted exactly once)."""
        statement = (
            update(message_batches)
            .where(message_batches.c.id == batch_id, message_batches.c.counted_at.is_(None))
            .values(counted_at=at)
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1
