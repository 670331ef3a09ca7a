"""The store's usage ledger (``usage_events``, ``usage_hourly``, ``usage_daily``), for SQLite and
PostgreSQL (part of ``SqlStore``).

Ledger rows are inserted in batches, in the transaction that adds them to their hour's totals
(``usage_hourly``) and each key's tokens to its budget windows (which ``limits_sql`` reads);
whole days older than the retention are folded into ``usage_daily`` and deleted from both other
tables in one transaction. A report reads each request exactly once: whole hours of its range
from the hourly totals, the part hours at its ends from the rows, and folded days from the daily
totals (so a month's report reads a few thousand rows, not a million).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    and_,
    case,
    cast,
    delete,
    func,
    literal_column,
    null,
    select,
    text,
    union,
)

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import (
    BUCKETS,
    USAGE_TOTALS,
    UsageQuery,
    UsageRow,
    WindowAddition,
)
from link_assistant_router.storage.tables import (
    key_windows,
    usage_daily,
    usage_events,
    usage_hourly,
)

__all__ = ["UsageQueries"]

DAY_S = 86400
HOUR_S = 3600
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
_GROUP_COLUMNS = {"key": "key_id", "model": "model", "account": "account", "session": "session"}
_KEYS = ("key_id", "account", "model")


def _row_totals(field: Callable[[str], str]) -> list[str]:
    """How each of ``USAGE_TOTALS`` is counted from ledger rows, as SQL over the rows' fields
    (named by ``field``); the hourly and daily totals keep them as they are."""
    counted = {
        "requests": "COUNT(*)",
        "errors": f"SUM(CASE WHEN {field('error_type')} IS NULL THEN 0 ELSE 1 END)",
        "incomplete": f"SUM(1 - {field('complete')})",
        "api_equivalent_micros": (
            f"SUM(CASE WHEN {field('subscription')} = 1 THEN {field('cost_micros')} ELSE 0 END)"
        ),
        "unpriced_requests": f"SUM({field('unpriced')})",
    }
    return [counted[name] if name in counted else f"SUM({field(name)})" for name in USAGE_TOTALS]


_FROM_ROWS = dict(zip(USAGE_TOTALS, _row_totals(str), strict=True))
_ADDED = ", ".join(f"{name} = {{table}}.{name} + excluded.{name}" for name in USAGE_TOTALS)


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
                await conn.exec_driver_sql(self._add_to_hours_sql(), (document,))
            for addition in windows:
                await conn.execute(self._add_to_window(addition))

    def _field(self, name: str) -> str:
        """A row's field in the JSON document of rows (``record_usage``)."""
        number = UsageRow._fields.index(name)
        if self.dialect == "postgresql":
            return f"(r->>{number})::{_PG_TYPES[name]}"
        return f"json_extract(value, '$[{number}]')"

    def _rows_source(self) -> str:
        if self.dialect == "postgresql":
            return "jsonb_array_elements($1::jsonb) AS r"
        return "json_each(?)"

    def _insert_usage_sql(self) -> str:
        names = ", ".join(UsageRow._fields)
        values = ", ".join(self._field(name) for name in UsageRow._fields)
        return f"INSERT INTO usage_events ({names}) SELECT {values} FROM {self._rows_source()}"  # noqa: S608

    def _add_to_hours_sql(self) -> str:
        """The batch's totals per hour, key, account and model, added to ``usage_hourly``."""
        at = self._field("at")
        # CAST truncates in SQLite (times are positive) and rounds in PostgreSQL.
        hour = f"floor({at} / {HOUR_S})" if self.dialect == "postgresql" else f"{at} / {HOUR_S}"
        hour = f"CAST({hour} AS INTEGER)"
        keys = [hour, *(self._field(name) for name in _KEYS)]
        sums = _row_totals(self._field)
        names = ", ".join(("hour", *_KEYS, *USAGE_TOTALS))
        adds = _ADDED.format(table="usage_hourly")
        # Only constant column names are formatted in. SQLite needs the WHERE before ON CONFLICT.
        return (
            f"INSERT INTO usage_hourly ({names}) "  # noqa: S608
            f"SELECT {', '.join(keys + sums)} FROM {self._rows_source()} WHERE 1 = 1 "
            f"GROUP BY 1, 2, 3, 4 "
            f"ON CONFLICT (hour, {', '.join(_KEYS)}) DO UPDATE SET {adds}"
        )

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
        merged: dict[object, dict[str, object]] = {}
        async with self.engine.connect() as conn:
            for statement in self._totals_selects(query):
                for row in await conn.execute(statement):
                    mapping = row._mapping
                    value = mapping["grouped"] if query.group_by else None
                    if query.group_by in BUCKETS and value is not None:
                        value = int(value)
                    total = merged.setdefault(
                        value, {name: 0 for name in USAGE_TOTALS} | {"group": value}
                    )
                    for name in USAGE_TOTALS:
                        total[name] = int(total[name]) + int(mapping[name] or 0)  # type: ignore[call-overload]
        return [merged[value] for value in sorted(merged, key=_order)]

    def _totals_selects(self, query: UsageQuery) -> list[Any]:
        """The statements whose groups add up to the report: every request read once."""
        since, until = query.since, query.until
        # Minutes and sessions are in the rows alone (the hourly totals keep neither).
        rows_alone = query.group_by in ("minute", "session")
        hours = None if rows_alone else _whole_hours(since, until)
        if hours is None:  # or a range inside one hour
            selects = [self._select(usage_events, query, since, until)]
        else:
            first, last = hours
            selects = [self._select(usage_hourly, query, first, last)]
            if since is not None and first is not None and since < first * HOUR_S:
                selects.append(self._select(usage_events, query, since, first * HOUR_S))
            if until is not None and last is not None and last * HOUR_S < until:
                selects.append(self._select(usage_events, query, last * HOUR_S, until))
        selects.append(self._select(usage_daily, query, *_range_in(usage_daily, since, until)))
        return selects

    def _select(self, table: Any, query: UsageQuery, low: float | None, high: float | None) -> Any:
        """Totals from one table for ``low <= time < high``, in the table's own unit of time
        (seconds for the rows, hour numbers, day numbers)."""
        c = table.c
        columns: list[Any]
        if table is usage_events:
            columns = [literal_column(_FROM_ROWS[name]).label(name) for name in USAGE_TOTALS]
        else:
            columns = [func.sum(c[name]).label(name) for name in USAGE_TOTALS]
        grouped = self._grouped(table, query.group_by)
        if grouped is not None:
            columns.insert(0, grouped.label("grouped"))
        statement = select(*columns).select_from(table)
        conditions = _filters(c, query) + _between(table, low, high)
        if conditions:
            statement = statement.where(and_(*conditions))
        if _GROUP_COLUMNS.get(query.group_by or "", "") not in ("", *c.keys()):
            statement = statement.having(func.count() > 0)  # folded days keep no sessions
        elif grouped is not None:
            statement = statement.group_by(grouped)
        return statement

    def _grouped(self, table: Any, group_by: str | None) -> Any:
        """What a table's rows are grouped by: a column, or the number of a time bucket."""
        if group_by is None:
            return None
        if group_by in _GROUP_COLUMNS:
            column = _GROUP_COLUMNS[group_by]
            return table.c[column] if column in table.c else null()
        size = BUCKETS[group_by]
        if table is usage_daily:
            return table.c.day * (DAY_S // size)
        if table is usage_hourly:  # never asked for minutes
            return table.c.hour // (size // HOUR_S)
        if self.dialect == "postgresql":  # CAST rounds there
            return cast(func.floor(table.c.at / size), BigInteger)
        return cast(table.c.at / size, BigInteger)

    @translated
    async def recent_usage(
        self,
        query: UsageQuery,
        *,
        before: float | None = None,
        errors_only: bool = False,
        limit: int = 50,
    ) -> list[UsageRow]:
        c = usage_events.c
        conditions = _filters(c, query)
        if query.since is not None:
            conditions.append(c.at >= query.since)
        for bound in (query.until, before):
            if bound is not None:
                conditions.append(c.at < bound)
        if errors_only:
            conditions.append(c.error_type.is_not(None))
        statement = select(usage_events).where(*conditions).order_by(c.at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [UsageRow(**row._mapping) for row in await conn.execute(statement)]

    @translated
    async def ttfb_percentiles(
        self, since: float, until: float, fractions: Sequence[float] = (0.5, 0.95)
    ) -> list[float] | None:
        c = usage_events.c
        where = and_(c.at >= since, c.at < until, c.ttfb_ms.is_not(None))
        async with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                found = await conn.execute(
                    select(
                        *(func.percentile_disc(f).within_group(c.ttfb_ms) for f in fractions)
                    ).where(where)
                )
                values = list(found.one())
                return None if values[0] is None else [float(v) for v in values]
            count = (await conn.execute(select(func.count()).where(where))).scalar_one()
            if not count:
                return None
            ordered = select(c.ttfb_ms).where(where).order_by(c.ttfb_ms).limit(1)
            # The value at the first position whose share reaches the fraction, as
            # PostgreSQL's percentile_disc has it.
            return [
                float(
                    (
                        await conn.execute(ordered.offset(max(math.ceil(f * count) - 1, 0)))
                    ).scalar_one()
                )
                for f in fractions
            ]

    @translated
    async def unpriced_models(self, query: UsageQuery) -> list[str]:
        # The rows and the folded days hold every request once (the hours repeat the rows).
        found_in = []
        for table, unpriced in (
            (usage_events, usage_events.c.unpriced == 1),
            (usage_daily, usage_daily.c.unpriced_requests > 0),
        ):
            low, high = _range_in(table, query.since, query.until)
            conditions = [unpriced, *_filters(table.c, query), *_between(table, low, high)]
            found_in.append(select(table.c.model).where(*conditions))
        async with self.engine.connect() as conn:
            found = await conn.execute(union(*found_in))
        return sorted(str(row[0]) for row in found)

    @translated
    async def roll_up_usage(self, before_day: int) -> int:
        keys = "day, key_id, account, model"
        # Only constant column names are formatted in. SQLite needs the WHERE before ON CONFLICT.
        fold = text(
            f"INSERT INTO usage_daily ({keys}, {', '.join(USAGE_TOTALS)}) "  # noqa: S608
            f"SELECT {keys}, {', '.join(_FROM_ROWS.values())} FROM usage_events "
            f"WHERE at < :before GROUP BY {keys} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {_ADDED.format(table='usage_daily')}"
        )
        async with self.engine.begin() as conn:
            # By time, not day number: the time index serves both statements.
            before = before_day * DAY_S
            await conn.execute(fold, {"before": before})
            result = await conn.execute(delete(usage_events).where(usage_events.c.at < before))
            await conn.execute(
                delete(usage_hourly).where(usage_hourly.c.hour < before_day * (DAY_S // HOUR_S))
            )
        return int(result.rowcount)


def _case(condition: Any, value: Any) -> Any:
    return case((condition, value))


def _whole_hours(since: float | None, until: float | None) -> tuple[int | None, int | None] | None:
    """The whole hours inside a range, as hour numbers ``[first, last)`` (None: open), or None
    when it holds no whole hour."""
    first = None if since is None else math.ceil(since / HOUR_S)
    last = None if until is None else math.floor(until / HOUR_S)
    if first is not None and last is not None and first >= last:
        return None
    return first, last


def _range_in(
    table: Any, since: float | None, until: float | None
) -> tuple[float | None, float | None]:
    """A range of seconds in a table's own unit of time: seconds for the rows; for the folded
    days, which are whole days, the days that start inside it."""
    if table is usage_events:
        return since, until
    first = None if since is None else math.ceil(since / DAY_S)
    return first, None if until is None else math.ceil(until / DAY_S)


def _between(table: Any, low: float | None, high: float | None) -> list[Any]:
    """``low <= time < high`` in the table's own unit (seconds, hour numbers, day numbers)."""
    c = table.c
    time = c.at if table is usage_events else c.hour if table is usage_hourly else c.day
    conditions = []
    if low is not None:
        conditions.append(time >= low)
    if high is not None:
        conditions.append(time < high)
    return conditions


def _filters(c: Any, query: UsageQuery) -> list[Any]:
    """A report's key, account and model filters on a table's columns ``c``."""
    given = (("key_id", query.key_id), ("account", query.account), ("model", query.model))
    return [c[column] == value for column, value in given if value is not None]


def _order(value: object) -> tuple[bool, Any]:
    return value is None, value if isinstance(value, int) else str(value)
