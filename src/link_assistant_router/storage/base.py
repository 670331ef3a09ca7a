"""The store's interface: what the rest of the router may ask of persistent state.

It is deliberately narrow (records in, records out, no SQL above this package) so that one
implementation serves SQLite and PostgreSQL and tests can see exactly what the router relies on.
Times are UNIX seconds (float, UTC) throughout.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from link_assistant_router.limits import KeyLimits


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One issued ``la_sk_`` key. The key itself is never stored: only its id (the JWT ``sub``)."""

    id: str
    label: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None
    account: str | None = None
    group: str | None = None
    limits: KeyLimits | None = None

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """An upstream account added at run time (accounts from the settings are not stored).

    ``secret`` is the oauth-token or api-key value, already encrypted by the caller.
    """

    name: str
    kind: str
    priority: int = 0
    weight: int = 1
    group: str | None = None
    claude_home: str | None = None
    secret: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountStateRecord:
    """An account's shared state: what every worker and replica must agree on."""

    name: str
    state: str = "ready"
    reason: str | None = None
    cooldown_until: float | None = None
    login_fingerprint: str | None = None
    quota: str | None = None
    requests: int = 0
    last_error: str | None = None
    updated_at: float = 0.0


class UsageRow(NamedTuple):
    """One proxied request in the usage ledger, in ``usage_events``' column order.

    A tuple of plain values: a second's worth of rows waiting in memory costs the garbage
    collector nothing, and the driver takes them as they are.
    """

    request_id: str
    at: float
    day: int  # at // 86400
    key_id: str
    account: str
    model: str
    session: str | None
    client: str | None
    route: str
    status: int | None
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    ttfb_ms: float | None
    duration_ms: float
    error_type: str | None
    complete: int  # 1, or 0 for a stream cut short


@dataclass(frozen=True, slots=True)
class WindowTokens:
    """A key's count in one budget window: tokens since ``started_at``."""

    name: str
    started_at: float
    tokens: float


@dataclass(frozen=True, slots=True)
class WindowAddition:
    """Tokens to add to a key's window; a stored window that started before ``fresh_after``
    has ended, and starts again at ``started_at`` with these tokens alone."""

    key_id: str
    name: str
    fresh_after: float
    started_at: float
    tokens: float


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Filters and grouping of a usage report. ``group_by``: day, key, model, account or None."""

    since: float | None = None
    until: float | None = None
    key_id: str | None = None
    account: str | None = None
    model: str | None = None
    group_by: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One admin action: what was done to what, by whom (never a secret in any field)."""

    id: str
    at: float
    action: str
    target: str
    actor: str
    request_id: str | None = None
    details: str | None = None  # a small JSON object


USAGE_TOTALS = (
    "requests",
    "errors",
    "incomplete",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


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
        """Totals (``USAGE_TOTALS``) per group, raw rows and daily rollups together."""

    async def roll_up_usage(self, before_day: int) -> int:
        """Fold ledger rows of days before ``before_day`` into daily rollups; returns rows moved."""

    async def purge_limit_counters(self, now: float) -> None:
        """Drop per-minute counters and concurrency leases that can no longer matter."""

    async def insert_audit(self, record: AuditRecord) -> None: ...

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


def lease_holder() -> str:
    """Who holds a lease: this host and process, plus a random part for restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
