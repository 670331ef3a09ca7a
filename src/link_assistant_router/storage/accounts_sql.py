"""Accounts added at run time, their shared state and the sticky-session bindings to them, for
SQLite and PostgreSQL (part of ``SqlStore``).

An account's state row is what every worker and replica must agree on (state, cooldown, login,
latest quota reading); it is written whole except ``requests``, a counter that only grows by
additions. Deleting an account deletes its state and the conversations bound to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select

from link_assistant_router.storage.driver_errors import translated
from link_assistant_router.storage.queries import Queries
from link_assistant_router.storage.records import AccountRecord, AccountStateRecord
from link_assistant_router.storage.tables import account_state, accounts, sticky_sessions

__all__ = ["AccountQueries"]


class AccountQueries(Queries):
    """Mixed into ``SqlStore``: accounts, their shared state, and session bindings."""

    @translated
    async def list_accounts(self) -> list[AccountRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(accounts).order_by(accounts.c.created_at))
            return [
                AccountRecord(
                    name=row.name,
                    kind=row.kind,
                    priority=row.priority,
                    weight=row.weight,
                    group=row.group_name,
                    claude_home=row.claude_home,
                    secret=row.secret,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    @translated
    async def insert_account(self, record: AccountRecord) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                accounts.insert().values(
                    name=record.name,
                    kind=record.kind,
                    priority=record.priority,
                    weight=record.weight,
                    group_name=record.group,
                    claude_home=record.claude_home,
                    secret=record.secret,
                    created_at=record.created_at,
                )
            )

    @translated
    async def delete_account(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(accounts).where(accounts.c.name == name))
            await conn.execute(delete(account_state).where(account_state.c.name == name))
            await conn.execute(delete(sticky_sessions).where(sticky_sessions.c.account == name))
        return bool(result.rowcount)

    @translated
    async def load_account_states(self) -> dict[str, AccountStateRecord]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(account_state))
            return {
                row.name: AccountStateRecord(
                    name=row.name,
                    state=row.state,
                    reason=row.reason,
                    cooldown_until=row.cooldown_until,
                    login_fingerprint=row.login_fingerprint,
                    quota=row.quota,
                    requests=row.requests,
                    last_error=row.last_error,
                    updated_at=row.updated_at,
                )
                for row in rows
            }

    @translated
    async def save_account_state(self, record: AccountStateRecord) -> None:
        values = {
            "name": record.name,
            "state": record.state,
            "reason": _clip(record.reason),
            "cooldown_until": record.cooldown_until,
            "login_fingerprint": record.login_fingerprint,
            "quota": record.quota,
            "requests": 0,
            "last_error": _clip(record.last_error),
            "updated_at": record.updated_at,
        }
        async with self.engine.begin() as conn:
            await conn.execute(self._upsert(account_state, values, keep=("requests",)))

    @translated
    async def save_account_quota(self, name: str, quota: str | None, at: float) -> None:
        values = {"name": name, "state": "ready", "quota": quota, "requests": 0, "updated_at": at}
        statement = self._upsert(account_state, values, keep=("state", "requests"))
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    @translated
    async def add_account_requests(self, counts: Mapping[str, int]) -> None:
        insert = self._insert()
        async with self.engine.begin() as conn:
            for name, delta in counts.items():
                statement = insert(account_state).values(
                    name=name, state="ready", requests=delta, updated_at=0.0
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[account_state.c.name],
                        set_={"requests": account_state.c.requests + statement.excluded.requests},
                    )
                )

    @translated
    async def get_binding(self, session: str, now: float) -> str | None:
        async with self.engine.connect() as conn:
            account = await conn.scalar(
                select(sticky_sessions.c.account)
                .where(sticky_sessions.c.session == session)
                .where(sticky_sessions.c.expires_at > now)
            )
        return str(account) if account is not None else None

    @translated
    async def put_binding(self, session: str, account: str, expires_at: float) -> None:
        values = {"session": session, "account": account, "expires_at": expires_at}
        async with self.engine.begin() as conn:
            await conn.execute(self._upsert(sticky_sessions, values))

    @translated
    async def purge_bindings(self, now: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(sticky_sessions).where(sticky_sessions.c.expires_at <= now)
            )
        return int(result.rowcount)


def _clip(text: str | None, limit: int = 500) -> str | None:
    return text[:limit] if text is not None else None
