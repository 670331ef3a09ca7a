"""The store's usage ledger (``usage_events``, ``usage_daily``), for SQLite and PostgreSQL (part of
``SqlStore``).

Ledger rows are inserted in batches, in the transaction that adds each key's tokens to its budget
windows (which ``limits_sql`` reads); whole days older than the retention are folded into
``usage_daily`` and deleted in one transaction, so a report reads each request exactly once,
from one table or the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import and_, case, delete, func, literal_column, null, select, text, union

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import USAGE_TOTALS, UsageQuery, UsageRow, WindowAddition
from link_assistant_router.storage.tables import key_windows, usage_daily, usage_events

__all__ = ["UsageQueries"]

DAY_S = 86400
# How each total is counted from ledger rows; the daily rollups keep the totals themselves.
_COUNTED = {
    "requests": "COUNT(*)",
    "errors": "SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END)",
    "incomplete": "SUM(1 - complete)",
    "api_equivalent_micros": "SUM(CASE WHEN subscription = 1 THEN cost_micros ELSE 0 END)",
    "unpriced_requests": "SUM(unpriced)",
}
_FROM_ROWS = {name: _COUNTED.get(name, f"SUM({name})") for name in USAGE_TOTALS}
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
    "cache_creation_5m_input_tokens": "bigint",
    "cache_creation_1h_input_tokens": "bigint",
    "web_search_requests": "integer",
    "web_fetch_requests": "integer",
    "cost_micros": "bigint",
    "subscription": "smallint",
    "unpriced": "smallint",
}
_GROUP_COLUMNS = {
    "day": "day",
    "key": "key_id",
    "model": "model",
    "account": "account",
    "session": "session",
}


class UsageQueries(Queries):
    """Mixed into ``SqlStore``: writing the ledger, reporting from it, folding old days."""

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
            cost_micros=addition.cost_micros,
        )
        ended = key_windows.c.started_at < addition.fresh_after
        added = {
            name: func.coalesce(
                _case(ended, statement.excluded[name]),
                key_windows.c[name] + statement.excluded[name],
            )
            for name in ("tokens", "cost_micros")
        }
        return statement.on_conflict_do_update(
            index_elements=[key_windows.c.key_id, key_windows.c.name],
            set_={
                **added,
                "started_at": func.coalesce(
                    _case(ended, statement.excluded.started_at), key_windows.c.started_at
                ),
            },
        )

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
    async def unpriced_models(self, query: UsageQuery) -> list[str]:
        rows = select(usage_events.c.model).where(
            usage_events.c.unpriced == 1, *_conditions(usage_events, True, query)
        )
        days = select(usage_daily.c.model).where(
            usage_daily.c.unpriced_requests > 0, *_conditions(usage_daily, False, query)
        )
        async with self.engine.connect() as conn:
            found = await conn.execute(union(rows, days))
        return sorted(str(row[0]) for row in found)

    @translated
    async def roll_up_usage(self, before_day: int) -> int:
        keys = "day, key_id, account, model"
        adds = ", ".join(f"{name} = usage_daily.{name} + excluded.{name}" for name in USAGE_TOTALS)
        # Only constant column names are formatted in. SQLite needs the WHERE before ON CONFLICT.
        fold = text(
            f"INSERT INTO usage_daily ({keys}, {', '.join(USAGE_TOTALS)}) "  # noqa: S608
            f"SELECT {keys}, {', '.join(_FROM_ROWS.values())} FROM usage_events "
            f"WHERE at < :before GROUP BY {keys} "
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


def _totals_select(table: Any, raw: bool, query: UsageQuery, group: str | None) -> Any:
    c = table.c
    columns: list[Any]
    if raw:
        columns = [literal_column(_FROM_ROWS[name]).label(name) for name in USAGE_TOTALS]
    else:
        columns = [func.sum(c[name]).label(name) for name in USAGE_TOTALS]
    grouped = group is not None and group in c
    if group is not None:  # rollups keep no sessions: theirs are one group, None
        columns.insert(0, (c[group] if grouped else null()).label("grouped"))
    statement = select(*columns).select_from(table)
    conditions = _conditions(table, raw, query)
    if conditions:
        statement = statement.where(and_(*conditions))
    if grouped:
        statement = statement.group_by(c[group])
    elif group is not None:
        statement = statement.having(func.count() > 0)
    return statement


def _conditions(table: Any, raw: bool, query: UsageQuery) -> list[Any]:
    c = table.c
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
    return conditions
