"""The audit log on SQLite and PostgreSQL."""

from __future__ import annotations

from link_assistant_router.storage.records import AuditRecord
from link_assistant_router.storage.sql import SqlStore
from tests.storage.conftest import TODAY


async def test_audit_records_are_listed_newest_first_and_filtered(store: SqlStore) -> None:
    for number, (action, target) in enumerate(
        [("key.issue", "k1"), ("key.revoke", "k1"), ("account.add", "team")]
    ):
        await store.insert_audit(
            AuditRecord(
                id=f"a{number}",
                at=TODAY + number * 10,
                action=action,
                target=target,
                actor="cli",
                request_id=None if number else "req_lar_1",
                details='{"label": "x"}' if number == 0 else None,
            )
        )
    everything = await store.list_audit()
    assert [r.id for r in everything] == ["a2", "a1", "a0"]
    assert everything[-1].details == '{"label": "x"}' and everything[-1].request_id == "req_lar_1"
    assert [r.id for r in await store.list_audit(target="k1")] == ["a1", "a0"]
    assert [r.id for r in await store.list_audit(action="account.add")] == ["a2"]
    assert [r.id for r in await store.list_audit(since=TODAY + 5, until=TODAY + 15)] == ["a1"]
    assert [r.id for r in await store.list_audit(limit=1)] == ["a2"]
