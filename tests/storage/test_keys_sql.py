"""The store's key records, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from link_assistant_router.errors import StoreError
from link_assistant_router.storage.sql import SqlStore
from tests.storage.conftest import make_key


async def test_key_round_trips_every_field(store: SqlStore) -> None:
    key = make_key(
        label="ünïcode label ✓ " + "x" * 180,
        created_at=1_750_000_000.123456,
        expires_at=1_750_003_600.654321,
        revoked_at=1_750_000_100.5,
        last_used_at=1_750_000_050.75,
        account="work-account",
        group="team-a",
    )
    await store.insert_key(key)
    assert await store.get_key(key.id) == key


async def test_key_with_optional_fields_unset_round_trips(store: SqlStore) -> None:
    key = make_key(label="")
    await store.insert_key(key)
    assert await store.get_key(key.id) == key


async def test_get_unknown_key_is_none(store: SqlStore) -> None:
    await store.insert_key(make_key())
    assert await store.get_key(str(uuid.uuid4())) is None


async def test_inserting_a_duplicate_id_is_a_store_error(store: SqlStore) -> None:
    key = make_key()
    await store.insert_key(key)
    with pytest.raises(StoreError):
        await store.insert_key(key)


async def test_list_is_newest_first(store: SqlStore) -> None:
    keys = [make_key(created_at=at) for at in (1_750_000_200.0, 1_750_000_100.0, 1_750_000_300.0)]
    for key in keys:
        await store.insert_key(key)
    newest_first = sorted(keys, key=lambda key: key.created_at, reverse=True)
    assert await store.list_keys() == newest_first


async def test_list_of_an_empty_store_is_empty(store: SqlStore) -> None:
    assert await store.list_keys() == []


async def test_revoke_returns_the_revoked_record(store: SqlStore) -> None:
    key = make_key()
    await store.insert_key(key)
    revoked_at = key.created_at + 60
    revoked = await store.revoke_key(key.id, revoked_at)
    assert revoked is not None
    assert revoked.revoked_at == revoked_at
    assert revoked.id == key.id
    assert await store.get_key(key.id) == revoked


async def test_second_revoke_keeps_the_first_time(store: SqlStore) -> None:
    key = make_key()
    await store.insert_key(key)
    first = await store.revoke_key(key.id, key.created_at + 60)
    second = await store.revoke_key(key.id, key.created_at + 120)
    assert first is not None
    assert second is not None
    assert second.revoked_at == first.revoked_at


async def test_revoke_unknown_key_is_none(store: SqlStore) -> None:
    assert await store.revoke_key(str(uuid.uuid4()), 1_750_000_000.0) is None


async def test_revoke_touches_only_that_key(store: SqlStore) -> None:
    target, other = make_key(), make_key()
    await store.insert_key(target)
    await store.insert_key(other)
    await store.revoke_key(target.id, target.created_at + 1)
    assert await store.get_key(other.id) == other


async def test_touch_keys_updates_several_keys_at_once(store: SqlStore) -> None:
    first, second, untouched = make_key(), make_key(), make_key()
    for key in (first, second, untouched):
        await store.insert_key(key)
    times = {first.id: first.created_at + 10, second.id: second.created_at + 20}
    await store.touch_keys(times)
    for key_id, at in times.items():
        record = await store.get_key(key_id)
        assert record is not None
        assert record.last_used_at == at
    assert await store.get_key(untouched.id) == untouched


async def test_touch_keys_never_moves_last_used_backwards(store: SqlStore) -> None:
    first, second = make_key(), make_key()
    for key in (first, second):
        await store.insert_key(key)
    start = first.created_at
    await store.touch_keys({first.id: start + 100, second.id: start + 100})
    await store.touch_keys({first.id: start + 50, second.id: start + 200})
    first_now, second_now = await store.get_key(first.id), await store.get_key(second.id)
    assert first_now is not None
    assert second_now is not None
    assert first_now.last_used_at == start + 100
    assert second_now.last_used_at == start + 200


async def test_touch_keys_ignores_unknown_ids_and_empty_batches(store: SqlStore) -> None:
    key = make_key()
    await store.insert_key(key)
    await store.touch_keys({})
    await store.touch_keys({str(uuid.uuid4()): key.created_at + 5})
    assert await store.get_key(key.id) == key
    assert await store.list_keys() == [key]
