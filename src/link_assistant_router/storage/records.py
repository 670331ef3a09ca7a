"""The records the store takes and hands out: plain values, no SQL and no connections.

The ``Store`` interface takes and returns these, plain values, and ``KeyLimits`` (which the
rest of the router shares, from ``limits.py``). Times are UNIX seconds (float, UTC) throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from link_assistant_router.limits import KeyLimits

__all__ = [
    "BUCKETS",
    "USAGE_TOTALS",
    "AccountRecord",
    "AccountStateRecord",
    "AuditRecord",
    "BatchRecord",
    "ConsoleSession",
    "KeyRecord",
    "UsageQuery",
    "UsageRow",
    "WindowAddition",
    "WindowTokens",
]


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
    cache_creation_5m_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    cost_micros: int = 0  # at the prices of when it was written
    subscription: int = 0  # 1: served by a subscription account (the cost is API-equivalent)
    unpriced: int = 0  # 1: its model had no price (its cost is 0)


@dataclass(frozen=True, slots=True)
class WindowTokens:
    """A key's count in one budget window: tokens and micro-dollars since ``started_at``."""

    name: str
    started_at: float
    tokens: float
    cost_micros: int = 0


@dataclass(frozen=True, slots=True)
class WindowAddition:
    """Tokens and micro-dollars to add to a key's window; a stored window that started before
    ``fresh_after`` has ended, and starts again at ``started_at`` with these alone."""

    key_id: str
    name: str
    fresh_after: float
    started_at: float
    tokens: float
    cost_micros: int = 0


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Filters and grouping of a usage report. ``group_by``: a time bucket (``BUCKETS``), key,
    model, account, session, or None for the totals alone."""

    since: float | None = None
    until: float | None = None
    key_id: str | None = None
    account: str | None = None
    model: str | None = None
    group_by: str | None = None


# Time buckets a usage report can be grouped by, and their length in seconds.
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in browser: ``operator`` (signed in with the admin key) or ``holder`` (with the
    ``la_sk_`` key ``key_id``). ``id`` is a hash of the cookie's token, never the token."""

    id: str
    kind: str
    key_id: str | None
    created_at: float
    expires_at: float
    client: str | None = None


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


# The totals in each group of a usage report (``Store.usage_totals``), in this order. Costs are
# micro-dollars: ``cost_micros`` of every request, ``api_equivalent_micros`` of those served by
# subscription accounts; ``unpriced_requests`` had no price for their model.
USAGE_TOTALS = (
    "requests",
    "errors",
    "incomplete",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "cost_micros",
    "api_equivalent_micros",
    "unpriced_requests",
)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A message batch a key created: who owns it, where it lives, what it may cost.

    The batch lives in the organization of the account that created it, so every later call on
    it goes to that account. ``worst_case_tokens`` is what its requests could use at most (their
    ``max_tokens``), held against the key's budgets until its results are counted.
    """

    id: str
    key_id: str
    account: str
    created_at: float
    worst_case_tokens: int
    counted_at: float | None = None
