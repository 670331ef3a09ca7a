"""Ordering the accounts that may serve a request: the first is tried first, the rest in turn.

Strategies (``ROUTING_STRATEGY``):

- ``sticky`` (default): a conversation stays on the account it started on, so its prompt cache
  (which lives in that account's organization) survives. New conversations go to the least-used
  account. A conversation moves only while its account cannot serve, and then stays where it
  moved: it does not bounce back. Bindings live in the store with a TTL, so replicas agree.
- ``round-robin``: in turn, each account as often as its weight.
- ``priority``: the lowest priority number first; ties in turn.
- ``least-used``: the lowest 5-hour utilization first (from the upstream's headers).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from link_assistant_router.accounts.account import Account
from link_assistant_router.errors import StoreError
from link_assistant_router.storage.base import Store

__all__ = ["Scheduler"]

# A binding is rewritten (its TTL extended) at most this often per conversation and process.
_BINDING_REFRESH_FRACTION = 0.25
_MAX_CACHED_BINDINGS = 50_000
# How long a process trusts the binding it last read before asking the store again.
_BINDING_CACHE_S = 5.0


def _utilization(account: Account) -> float:
    if account.quota is None:
        return 0.0
    window = account.quota.windows.get("5h")
    return window.utilization if window is not None and window.utilization is not None else 0.0


class Scheduler:
    def __init__(
        self,
        strategy: str,
        store: Store,
        *,
        sticky_ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.strategy = strategy
        self._store = store
        self._ttl_s = sticky_ttl_s
        self._clock = clock
        self._turn = 0
        # session -> (account name, when it was read or written, when this process wrote it)
        self._bindings: dict[str, tuple[str, float, float]] = {}

    def _rotation(self, accounts: list[Account]) -> list[Account]:
        """The accounts in turn: weights repeat an account in the cycle."""
        cycle = [account for account in accounts for _ in range(max(1, account.weight))]
        self._turn += 1
        start = self._turn % len(cycle)
        ordered: list[Account] = []
        for account in cycle[start:] + cycle[:start]:
            if account not in ordered:
                ordered.append(account)
        return ordered

    def _least_used(self, accounts: list[Account]) -> list[Account]:
        rotated = self._rotation(accounts)  # spreads ties instead of piling onto the first
        return sorted(rotated, key=_utilization)

    async def order(self, accounts: list[Account], session: str | None) -> list[Account]:
        """The accounts in the order to try them for this request."""
        if len(accounts) <= 1:
            return accounts
        if self.strategy == "round-robin":
            return self._rotation(accounts)
        if self.strategy == "priority":
            return sorted(self._rotation(accounts), key=lambda account: account.priority)
        if self.strategy != "sticky" or session is None:
            return self._least_used(accounts)
        by_name = {account.name: account for account in accounts}
        bound = await self._bound_account(session, recheck=False)
        if bound is not None and bound not in by_name:
            # Its account cannot serve here; another process may already have moved it.
            bound = await self._bound_account(session, recheck=True)
        if bound in by_name:
            # A turn of a known conversation: its account first, without taking a turn of the
            # rotation, which places new conversations.
            first = by_name[bound]
            rest = sorted((a for a in accounts if a is not first), key=_utilization)
            return [first, *rest]
        return self._least_used(accounts)

    async def _bound_account(self, session: str, *, recheck: bool) -> str | None:
        now = self._clock()
        cached = self._bindings.get(session)
        if not recheck and cached is not None and now - cached[1] < _BINDING_CACHE_S:
            return cached[0]
        try:
            bound = await self._store.get_binding(session, now)
        except StoreError:
            # The store is away: the binding this process knows, if any, still holds.
            return cached[0] if cached is not None else None
        if bound is None:
            self._bindings.pop(session, None)
            return None
        written_at = cached[2] if cached is not None and cached[0] == bound else float("-inf")
        self._remember(session, bound, checked_at=now, written_at=written_at)
        return bound

    async def served(self, session: str | None, account: Account) -> None:
        """Record which account served a conversation (a move, or a refreshed TTL)."""
        if self.strategy != "sticky" or session is None:
            return
        now = self._clock()
        cached = self._bindings.get(session)
        fresh = (
            cached is not None
            and cached[0] == account.name
            and now - cached[2] < self._ttl_s * _BINDING_REFRESH_FRACTION
        )
        if fresh:
            return
        try:
            await self._store.put_binding(session, account.name, now + self._ttl_s)
        except StoreError:
            # Kept in this process; written with the conversation's next turn.
            self._remember(session, account.name, checked_at=now, written_at=float("-inf"))
            return
        self._remember(session, account.name, checked_at=now, written_at=now)

    def _remember(
        self, session: str, account: str, *, checked_at: float, written_at: float
    ) -> None:
        if len(self._bindings) >= _MAX_CACHED_BINDINGS:
            self._bindings.clear()
        self._bindings[session] = (account, checked_at, written_at)

    def forget(self, account: str) -> None:
        """Drop cached bindings to an account that was removed."""
        self._bindings = {s: b for s, b in self._bindings.items() if b[0] != account}
