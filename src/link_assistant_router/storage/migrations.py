"""Schema migrations: an ordered list, applied at start-up, recorded in ``schema_migrations``.

Each migration is plain SQL that SQLite and PostgreSQL both accept. Applying them is safe when
several processes start together: on PostgreSQL they run under a transaction-scoped advisory
lock; on SQLite the server's parent process applies them before it starts workers, and the
statements are written to be harmless if repeated (CREATE ... IF NOT EXISTS; column additions are
guarded by the version check, which the parent process performs before any worker starts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MIGRATIONS", "Migration", "migrate"]

# An arbitrary constant that names "the router's migration lock" among PostgreSQL advisory locks.
_PG_LOCK_ID = 0x1A5C_0001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


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
                f"ALTER TABLE usage_daily ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0"
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


async def migrate(conn: AsyncConnection) -> list[int]:
    """Apply every migration not yet recorded, in order, inside the caller's transaction.

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
        if migration.version in done:
            continue
        for statement in migration.statements:
            await conn.execute(text(statement))
        await conn.execute(
            text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, :t)"),
            {"v": migration.version, "n": migration.name, "t": time.time()},
        )
        applied.append(migration.version)
    return applied
