"""Schema migrations: an ordered list, applied at start-up, recorded in ``schema_migrations``.

Each migration is plain SQL that SQLite and PostgreSQL both accept (or, where they cannot agree,
one statement per dialect). Applying them is safe when
several processes start together: on PostgreSQL they run under a transaction-scoped advisory
lock; on SQLite the server's parent process applies them before it starts workers, and the
statements are written to be harmless if repeated (CREATE ... IF NOT EXISTS; column additions are
guarded by the version check, which the parent process performs before any worker starts).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MIGRATIONS", "Migration", "migrate"]

# An arbitrary constant that names "the router's migration lock" among PostgreSQL advisory locks.
_PG_LOCK_ID = 0x1A5C_0001


@dataclass(frozen=True)
class Migration:
    """``statements``: SQL both databases accept, or a mapping of dialect name to its SQL."""

    version: int
    name: str
    statements: tuple[str | Mapping[str, str], ...]


_HOURLY_COLUMNS = (
    "hour, key_id, account, model, requests, errors, incomplete, input_tokens, output_tokens, "
    "cache_creation_input_tokens, cache_read_input_tokens"
)
_HOURLY_SUMS = (
    "COUNT(*), SUM(CASE WHEN error_type IS NULL THEN 0 ELSE 1 END), SUM(1 - complete), "
    "SUM(input_tokens), SUM(output_tokens), SUM(cache_creation_input_tokens), "
    "SUM(cache_read_input_tokens) FROM usage_events GROUP BY 1, key_id, account, model"
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "api keys",
        (
            """
            CREATE TABLE IF NOT EXISTS api_keys (
                id VARCHAR(36) PRIMARY KEY,
                label VARCHAR(200) NOT NULL DEFAULT '',
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION,
                last_used_at DOUBLE PRECISION
            )
            """,
            "CREATE INDEX IF NOT EXISTS api_keys_created_at ON api_keys (created_at)",
        ),
    ),
    Migration(
        2,
        "leases",
        (
            """
            CREATE TABLE IF NOT EXISTS leases (
                name VARCHAR(200) PRIMARY KEY,
                holder VARCHAR(200) NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
        ),
    ),
    Migration(
        3,
        "accounts, account state, sticky sessions, key bindings",
        (
            """
            CREATE TABLE IF NOT EXISTS accounts (
                name VARCHAR(100) PRIMARY KEY,
                kind VARCHAR(20) NOT NULL,
                priority INTEGER NOT NULL DEFAULT 0,
                weight INTEGER NOT NULL DEFAULT 1,
                group_name VARCHAR(100),
                claude_home VARCHAR(1000),
                secret TEXT,
                created_at DOUBLE PRECISION NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS account_state (
                name VARCHAR(100) PRIMARY KEY,
                state VARCHAR(20) NOT NULL,
                reason VARCHAR(500),
                cooldown_until DOUBLE PRECISION,
                login_fingerprint VARCHAR(64),
                quota TEXT,
                requests BIGINT NOT NULL DEFAULT 0,
                last_error VARCHAR(500),
                updated_at DOUBLE PRECISION NOT NULL
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS sticky_sessions (
                session VARCHAR(200) PRIMARY KEY,
                account VARCHAR(100) NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS sticky_sessions_expires ON sticky_sessions (expires_at)",
            "ALTER TABLE api_keys ADD COLUMN account VARCHAR(100)",
            "ALTER TABLE api_keys ADD COLUMN group_name VARCHAR(100)",
        ),
    ),
    Migration(
        4,
        "key limits, usage ledger, daily rollups, limit counters",
        (
            "ALTER TABLE api_keys ADD COLUMN limits TEXT",
            """
            CREATE TABLE IF NOT EXISTS usage_events (
                request_id VARCHAR(40) NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                day INTEGER NOT NULL,
                key_id VARCHAR(36) NOT NULL DEFAULT '',
                account VARCHAR(100) NOT NULL DEFAULT '',
                model VARCHAR(100) NOT NULL DEFAULT '',
                session VARCHAR(200),
                client VARCHAR(60),
                route VARCHAR(200) NOT NULL,
                status INTEGER,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
                cache_read_input_tokens BIGINT NOT NULL DEFAULT 0,
                ttfb_ms DOUBLE PRECISION,
                duration_ms DOUBLE PRECISION NOT NULL,
                error_type VARCHAR(60),
                complete SMALLINT NOT NULL DEFAULT 1
            )
            """,
            # One index: every row written costs its maintenance, and reports read by time.
            "CREATE INDEX IF NOT EXISTS usage_events_at ON usage_events (at)",
            """
            CREATE TABLE IF NOT EXISTS usage_daily (
                day INTEGER NOT NULL,
                key_id VARCHAR(36) NOT NULL,
                account VARCHAR(100) NOT NULL,
                model VARCHAR(100) NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                incomplete BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cache_creation_input_tokens BIGINT NOT NULL,
                cache_read_input_tokens BIGINT NOT NULL,
                PRIMARY KEY (day, key_id, account, model)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS key_windows (
                key_id VARCHAR(36) NOT NULL,
                name VARCHAR(10) NOT NULL,
                started_at DOUBLE PRECISION NOT NULL,
                tokens DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (key_id, name)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS key_minutes (
                key_id VARCHAR(36) NOT NULL,
                minute INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                granted INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (key_id, minute)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS key_inflight (
                request_id VARCHAR(40) PRIMARY KEY,
                key_id VARCHAR(36) NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX IF NOT EXISTS key_inflight_key ON key_inflight (key_id, expires_at)",
        ),
    ),
    Migration(
        5,
        "audit log",
        (
            """
            CREATE TABLE IF NOT EXISTS audit_log (
                id VARCHAR(32) PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL,
                action VARCHAR(40) NOT NULL,
                target VARCHAR(200) NOT NULL,
                actor VARCHAR(20) NOT NULL,
                request_id VARCHAR(40),
                details TEXT
            )
            """,
            "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
        ),
    ),
    Migration(
        6,
        "message batches",
        (
            """
            CREATE TABLE IF NOT EXISTS message_batches (
                id VARCHAR(100) PRIMARY KEY,
                key_id VARCHAR(36) NOT NULL,
                account VARCHAR(100) NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                worst_case_tokens BIGINT NOT NULL,
                counted_at DOUBLE PRECISION
            )
            """,
            "CREATE INDEX IF NOT EXISTS message_batches_key "
            "ON message_batches (key_id, created_at)",
        ),
    ),
    Migration(
        7,
        "console sessions",
        (
            """
            CREATE TABLE IF NOT EXISTS console_sessions (
                id VARCHAR(64) PRIMARY KEY,
                kind VARCHAR(10) NOT NULL,
                key_id VARCHAR(36),
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                client VARCHAR(60)
            )
            """,
            "CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at)",
        ),
    ),
    Migration(
        8,
        "hourly usage totals",
        (
            """
            CREATE TABLE IF NOT EXISTS usage_hourly (
                hour INTEGER NOT NULL,
                key_id VARCHAR(36) NOT NULL,
                account VARCHAR(100) NOT NULL,
                model VARCHAR(100) NOT NULL,
                requests BIGINT NOT NULL,
                errors BIGINT NOT NULL,
                incomplete BIGINT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cache_creation_input_tokens BIGINT NOT NULL,
                cache_read_input_tokens BIGINT NOT NULL,
                PRIMARY KEY (hour, key_id, account, model)
            )
            """,
            # The rows already in the ledger, so reports read every request once from here on.
            {
                "sqlite": f"INSERT INTO usage_hourly ({_HOURLY_COLUMNS}) "
                f"SELECT CAST(at / 3600 AS INTEGER), key_id, account, model, {_HOURLY_SUMS}",
                "postgresql": f"INSERT INTO usage_hourly ({_HOURLY_COLUMNS}) "
                f"SELECT CAST(floor(at / 3600) AS INTEGER), key_id, account, model, "
                f"{_HOURLY_SUMS}",
            },
        ),
    ),
    Migration(
        9,
        "cost: cache-write tiers, server tools and cost per ledger row; dollars in budget windows",
        (
            # Rows written before have 0 here: their split, tools and cost were not recorded.
            *(
                f"ALTER TABLE usage_events ADD COLUMN {column} NOT NULL DEFAULT 0"
                for column in (
                    "cache_creation_5m_input_tokens BIGINT",
                    "cache_creation_1h_input_tokens BIGINT",
                    "web_search_requests INTEGER",
                    "web_fetch_requests INTEGER",
                    "cost_micros BIGINT",
                    "subscription SMALLINT",
                    "unpriced SMALLINT",
                )
            ),
            *(
                f"ALTER TABLE {table} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0"
                for table in ("usage_hourly", "usage_daily")
                for column in (
                    "cache_creation_5m_input_tokens",
                    "cache_creation_1h_input_tokens",
                    "web_search_requests",
                    "web_fetch_requests",
                    "cost_micros",
                    "api_equivalent_micros",
                    "unpriced_requests",
                )
            ),
            "ALTER TABLE key_windows ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0",
        ),
    ),
)


async def applied_versions(conn: AsyncConnection) -> set[int]:
    rows = await conn.execute(text("SELECT version FROM schema_migrations"))
    return {int(row[0]) for row in rows}


async def migrate(conn: AsyncConnection, *, up_to: int | None = None) -> list[int]:
    """Apply every migration not yet recorded (up to version ``up_to``, when given: the store
    as a router of that time left it), in order, inside the caller's transaction.

    Returns the versions applied now.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    await conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY,"
            " name VARCHAR(200) NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
    )
    done = await applied_versions(conn)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done or (up_to is not None and migration.version > up_to):
            continue
        for statement in migration.statements:
            if isinstance(statement, Mapping):
                statement = statement[conn.dialect.name]
            await conn.execute(text(statement))
        await conn.execute(
            text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
            {"v": migration.version, "n": migration.name, "t": time.time()},
        )
        applied.append(migration.version)
    return applied
