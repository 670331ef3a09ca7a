"""The store fixtures: an empty, open store of each kind (SQLite, PostgreSQL); a key record
factory and day boundaries for the tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from link_assistant_router.storage.migrations import migrate
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.storage.sql import SqlStore, open_store

DAY = 86400
TODAY = 20_000 * DAY  # a day boundary


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    store = open_store(store_url)
    await store.open()
    yield store
    await store.close()


async def migrated_to(url: str, version: int) -> None:
    """Bring the database at ``url`` to migration ``version`` only, as a router of that time
    would have left it."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await migrate(conn, up_to=version)
    finally:
        await engine.dispose()


def make_key(created_at: float = 1_750_000_000.25, **overrides: Any) -> KeyRecord:
    """A key record with a fresh id, expiring an hour after it was created."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "label": "a label",
        "created_at": created_at,
        "expires_at": created_at + 3600,
    }
    values.update(overrides)
    return KeyRecord(**values)
