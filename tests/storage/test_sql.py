"""The store's engine, on SQLite and on PostgreSQL: liveness, and failures as StoreError."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from link_assistant_router.errors import StoreError
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.storage.conftest import make_key


async def test_ping_answers_on_an_open_store(store: SqlStore) -> None:
    await store.ping()


async def test_operations_on_a_closed_store_are_store_errors(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    await store.close()
    with pytest.raises(StoreError):
        await store.ping()
    with pytest.raises(StoreError):
        await store.get_key(str(uuid.uuid4()))
    with pytest.raises(StoreError):
        await store.insert_key(make_key())
    with pytest.raises(StoreError):
        await store.list_keys()


async def test_operations_on_a_store_never_opened_are_store_errors(tmp_path: Path) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/never.db")
    with pytest.raises(StoreError):
        await store.ping()
    with pytest.raises(StoreError):
        await store.revoke_key(str(uuid.uuid4()), 1.0)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2secret@127.0.0.1/router",
        "sqlite:///plain-sqlite.db",
        "postgresql://postgres@127.0.0.1/router",
        "not a url at all",
    ],
)
def test_unsupported_url_is_a_store_error_without_the_password(url: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert "hunter2secret" not in str(info.value)


async def test_connection_failure_message_hides_the_password() -> None:
    store = open_store("postgresql+asyncpg://postgres:hunter2secret@127.0.0.1:1/x")
    with pytest.raises(StoreError) as info:
        await store.open()
    assert info.value.message.startswith("store error")
    assert "hunter2secret" not in str(info.value)
    assert "hunter2secret" not in info.value.message
