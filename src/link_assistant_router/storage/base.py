"""The store's interface: what the rest of the router may ask of persistent state.

It is deliberately narrow (records in, records out, no SQL above this package) so that one
implementation serves SQLite and PostgreSQL and tests can see exactly what the router relies on.
The records are in ``records.py``. Times are UNIX seconds (float, UTC) throughout.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from typing import Protocol

from link_assistant_router.limits import KeyLimits
from link_assistant_router.storage.records import (
    AccountRecord,
    AccountStateRecord,
    AuditRecord,
    BatchRecord,
    ConsoleSession,
    KeyRecord,
    UsageQuery,
    UsageRow,
    WindowAddition,
    WindowTokens,
)

__all__ = ["Store", "lease_holder"]


class Store(Protocol):
    """Persistent state shared by every worker and replica of one router."""

    async def open(self) -> None:
        """Connect and apply pending migrations (safe to call from several processes at once)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers a trivial query."""

    async def insert_key(self, record: KeyRecord) -> None: ...

    async def get_key(self, key_id: str) -> KeyRecord | None: ...

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, newest first."""

    async def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        """Mark a key revoked (keeping the first revocation time); None if there is no such key."""

    async def touch_keys(self, last_used: Mapping[str, float]) -> None:
        """Record when keys were last used, in one batch (never moving a time backwards)."""

    async def list_accounts(self) -> list[AccountRecord]:
        """Accounts added at run time, oldest first."""

    async def insert_account(self, record: AccountRecord) -> None:
        """Add an account; ``StoreError`` if the name is taken."""

    async def delete_account(self, name: str) -> bool:
        """Remove an account, its state and its session bindings; False if there was none."""

    async def load_account_states(self) -> dict[str, AccountStateRecord]: ...

    async def save_account_state(self, record: AccountStateRecord) -> None:
        """Write an account's state (everything but ``requests``, which only grows)."""

    async def save_account_quota(self, name: str, quota: str | None, at: float) -> None:
        """Write only an account's latest quota reading, leaving its state as it is."""

    async def add_account_requests(self, counts: Mapping[str, int]) -> None:
        """Add to the accounts' served-request counters."""

    async def get_binding(self, session: str, now: float) -> str | None:
        """The account a conversation is bound to, unless the binding has expired."""

    async def put_binding(self, session: str, account: str, expires_at: float) -> None: ...

    async def purge_bindings(self, now: float) -> int:
        """Delete expired bindings; returns how many."""

    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take the lease ``name`` for ``holder`` until ``now + ttl_s``.

        True when ``holder`` holds it afterwards: it was free, expired, or already theirs (which
        extends it). At most one holder at a time across every process sharing the store.
        """

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back, if ``holder`` still holds it."""

    async def update_key(
        self, key_id: str, *, label: str | None = None, limits: KeyLimits | None = None
    ) -> KeyRecord | None:
        """Change a key's label (when given) and limits (always; None removes them)."""

    async def record_usage(
        self, rows: Sequence[UsageRow], windows: Sequence[WindowAddition]
    ) -> None:
        """Insert ledger rows and add to the keys' budget windows, in one transaction."""

    async def window_tokens(self, key_id: str) -> dict[str, WindowTokens]: ...

    async def reserve_requests(self, key_id: str, minute: int, want: int, limit: int) -> int:
        """Take up to ``want`` of the key's ``limit`` requests in this minute (UNIX time // 60),
        atomically across processes; returns how many were granted (0 when none are left)."""

    async def take_slot(
        self, key_id: str, slot: str, now: float, limit: int, lease_s: float
    ) -> bool:
        """Lease one of the key's ``limit`` concurrency slots as ``slot`` until ``now +
        lease_s``; False when they are all taken. Atomic across processes."""

    async def renew_slots(self, slots: Sequence[str], until: float) -> None:
        """Extend held slots' leases."""

    async def release(self, slots: Sequence[str]) -> None:
        """Give concurrency slots back."""

    async def usage_totals(self, query: UsageQuery) -> list[dict[str, object]]:
        """Totals (``USAGE_TOTALS``) per group, raw rows and daily rollups together; a time
        bucket's group is its number (UNIX time // the bucket's length)."""

    async def recent_usage(
        self,
        query: UsageQuery,
        *,
        before: float | None = None,
        errors_only: bool = False,
        limit: int = 50,
    ) -> list[UsageRow]:
        """Ledger rows matching ``query``'s filters (not yet folded), newest first, older than
        ``before`` when given."""

    async def ttfb_percentiles(
        self, since: float, until: float, fractions: Sequence[float] = (0.5, 0.95)
    ) -> list[float] | None:
        """Times to first byte (ms) at these fractions of the rows in the range; None if none."""

    async def unpriced_models(self, query: UsageQuery) -> list[str]:
        """The models of requests in the report's range that had no price, by name."""

    async def roll_up_usage(self, before_day: int) -> int:
        """Fold ledger rows of days before ``before_day`` into daily rollups; returns rows moved."""

    async def purge_limit_counters(self, now: float) -> None:
        """Drop per-minute counters and concurrency leases that can no longer matter."""

    async def insert_audit(self, record: AuditRecord) -> None: ...

    async def insert_session(self, record: ConsoleSession) -> None: ...

    async def get_session(self, session_id: str, now: float) -> ConsoleSession | None:
        """The session, unless there is none or it has expired."""

    async def delete_session(self, session_id: str) -> None: ...

    async def purge_sessions(self, now: float) -> int:
        """Delete expired sessions; returns how many."""

    async def list_audit(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit records, newest first."""

    async def insert_batch(self, record: BatchRecord) -> None: ...

    async def get_batch(self, batch_id: str) -> BatchRecord | None: ...

    async def list_batches(self, key_id: str, limit: int) -> list[BatchRecord]:
        """A key's batches, newest first."""

    async def uncounted_batch_tokens(self, key_id: str) -> int:
        """The worst case of a key's batches whose results are not counted yet."""

    async def mark_batch_counted(self, batch_id: str, at: float) -> bool:
        """Mark a batch's results counted; True only for the call that did it."""


def lease_holder() -> str:
    """Who holds a lease: this host and process, plus a random part for restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
