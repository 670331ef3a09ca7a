"""What the store's queries stand on: the engine, the dialect, and the INSERT that differs
between SQLite and PostgreSQL.

Each concern's queries are a mixin of ``Queries`` in their own module (``keys_sql``,
``accounts_sql``, ``leases_sql``, ``usage_sql``, ``limits_sql``, ``audit_sql``); ``SqlStore``
(``sql.py``) is composed of them and provides ``engine`` and ``dialect``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from link_assistant_router.storage.driver_errors import Breaker

__all__ = ["Queries"]


class Queries:
    """The base of the store's query mixins: ``engine`` and ``dialect`` come from ``SqlStore``;
    ``timeout_s`` is every call's deadline (``driver_errors.translated``)."""

    timeout_s: float | None = None
    breaker: Breaker | None = None

    @property
    def engine(self) -> AsyncEngine:
        raise NotImplementedError

    @property
    def dialect(self) -> str:
        raise NotImplementedError

    def _insert(self) -> Any:
        """This database's ``insert``, the one with ``on_conflict_do_update``."""
        return sqlite_insert if self.dialect == "sqlite" else postgresql_insert

    def _upsert(self, table: Table, values: dict[str, Any], keep: tuple[str, ...] = ()) -> Any:
        """INSERT ... ON CONFLICT (primary key) DO UPDATE, in this database's dialect."""
        insert = self._insert()
        statement = insert(table).values(**values)
        key = [column.name for column in table.primary_key.columns]
        updates = {
            name: statement.excluded[name]
            for name in values
            if name not in key and name not in keep
        }
        return statement.on_conflict_do_update(index_elements=key, set_=updates)
