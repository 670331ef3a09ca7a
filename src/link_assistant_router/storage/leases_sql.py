"""The store's leases (``leases``), for SQLite and PostgreSQL (part of ``SqlStore``).

A row per lease with its holder and expiry, taken with one conditional upsert (when it is free,
expired, or already the caller's), so at most one holder has a lease across every process
sharing the store. ``base.lease_holder()`` names this process as a holder.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.tables import leases

__all__ = ["LeaseQueries"]


class LeaseQueries(Queries):
    """Mixed into ``SqlStore``: taking and giving back leases."""

    @translated
    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        insert = self._insert()
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
