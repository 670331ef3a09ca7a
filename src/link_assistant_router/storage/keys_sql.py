"""The store's keys (``api_keys``), for SQLite and PostgreSQL (part of ``SqlStore``).

A key itself is never stored: only its id (the JWT ``sub``), label, times, account or group and
limits. Revoking keeps the first revocation time; last-used times arrive in batches and never
move backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Row

from link_assistant_router.limits import KeyLimits, limits_from_json
from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.storage.tables import api_keys

__all__ = ["KeyQueries"]


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


class KeyQueries(Queries):
    """Mixed into ``SqlStore``: issuing, reading, revoking and changing keys."""

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
