"""The limit counters on SQLite and PostgreSQL: per-minute request grants, concurrency slots."""

from __future__ import annotations

from link_assistant_router.storage.sql import SqlStore
from tests.storage.conftest import TODAY


async def test_request_grants_never_exceed_the_limit(store: SqlStore) -> None:
    minute = TODAY // 60
    grants = [await store.reserve_requests("key-a", minute, want, 10) for want in (4, 4, 4, 4)]
    assert grants == [4, 4, 2, 0]
    assert await store.reserve_requests("key-a", minute + 1, 20, 10) == 10  # a new minute
    assert await store.reserve_requests("key-b", minute, 1, 10) == 1  # another key


async def test_slots_are_leased_up_to_the_limit(store: SqlStore) -> None:
    now = float(TODAY + 30)
    taken = [await store.take_slot("key-a", f"s{n}", now, 2, 60) for n in range(3)]
    assert taken == [True, True, False]
    await store.release(["s0"])
    assert await store.take_slot("key-a", "s3", now, 2, 60)
    assert await store.take_slot("key-b", "t0", now, 1, 60)  # limits are per key
    # A slot never given back frees itself when its lease ends, unless it was renewed.
    await store.renew_slots(["s1"], now + 120)
    assert await store.take_slot("key-a", "s4", now + 61, 2, 60)  # s3 expired, s1 renewed
    assert not await store.take_slot("key-a", "s5", now + 61, 2, 60)
