"""The store's audit log (``audit_log``), for SQLite and PostgreSQL (part of ``SqlStore``).

Records are only inserted and listed (newest first); a target is cut to its column's 200
characters.
"""

from __future__ import annotations

from sqlalchemy import insert, select

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import AuditRecord
from link_assistant_router.storage.tables import audit_log

__all__ = ["AuditQueries"]


class AuditQueries(Queries):
    """Mixed into ``SqlStore``: recording admin actions and listing them."""

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
