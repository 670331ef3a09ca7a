"""The store's interface: what the rest of the router may ask of persistent state.

It is deliberately narrow (records in, records out, no SQL above this package) so that one
implementation serves SQLite and PostgreSQL and tests can see exactly what the router relies on.
Times are UNIX seconds (float, UTC) throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


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
