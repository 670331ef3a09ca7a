"""The store's console sessions (``console_sessions``), for SQLite and PostgreSQL (part of
``SqlStore``).

A session is found by the hash of its cookie's token and only while it has not expired; signing
out deletes it, and expired ones are purged with the other periodic upkeep.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import ConsoleSession
from link_assistant_router.storage.tables import console_sessions

__all__ = ["SessionQueries"]


class SessionQueries(Queries):
    """Mixed into ``SqlStore``: creating, finding and ending console sessions."""

    @translated
    async def insert_session(self, record: ConsoleSession) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(console_sessions).values(
                    id=record.id,
                    kind=record.kind,
                    key_id=record.key_id,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    client=record.client[:60] if record.client else None,
                )
            )

    @translated
    async def get_session(self, session_id: str, now: float) -> ConsoleSession | None:
        c = console_sessions.c
        statement = select(console_sessions).where(c.id == session_id, c.expires_at > now)
        async with self.engine.connect() as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            return None
        return ConsoleSession(
            id=row.id,
            kind=row.kind,
            key_id=row.key_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            client=row.client,
        )

    @translated
    async def delete_session(self, session_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.id == session_id))

    @translated
    async def purge_sessions(self, now: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(console_sessions).where(console_sessions.c.expires_at <= now)
            )
        return int(result.rowcount)
