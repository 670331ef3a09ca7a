"""Console sessions on SQLite and PostgreSQL: found while unexpired, ended by deletion, purged."""

from __future__ import annotations

from link_assistant_router.storage.records import ConsoleSession
from link_assistant_router.storage.sql import SqlStore
from tests.storage.conftest import TODAY


def session(session_id: str, expires_at: float, key_id: str | None = None) -> ConsoleSession:
    kind = "holder" if key_id else "operator"
    return ConsoleSession(session_id, kind, key_id, TODAY, expires_at, "127.0.0.1")


async def test_a_session_lives_until_it_expires_or_is_deleted(store: SqlStore) -> None:
    await store.insert_session(session("a" * 64, TODAY + 100, key_id="key-a"))
    await store.insert_session(session("b" * 64, TODAY + 10))
    assert await store.get_session("a" * 64, TODAY + 99) == session(
        "a" * 64, TODAY + 100, key_id="key-a"
    )
    assert await store.get_session("a" * 64, TODAY + 100) is None
    assert await store.get_session("c" * 64, TODAY) is None
    await store.delete_session("a" * 64)
    assert await store.get_session("a" * 64, TODAY) is None
    assert await store.purge_sessions(TODAY + 50) == 1
    assert await store.get_session("b" * 64, TODAY) is None
