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
