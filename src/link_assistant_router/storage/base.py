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

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


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

    async def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take the lease ``name`` for ``holder`` until ``now + ttl_s``.

        True when ``holder`` holds it afterwards: it was free, expired, or already theirs (which
        extends it). At most one holder at a time across every process sharing the store.
        """

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back, if ``holder`` still holds it."""
