"""Per-key limits: what they are, how they are written, and the windows budgets count in. Pure.

A key may carry: requests per minute, concurrent requests, token budgets per window, dollar
budgets per window and for its lifetime, allowed models (glob patterns) and allowed client
networks (CIDR). They are stored with the key as one JSON document and given to the API as the
same document (dollars as text, exact)::

    {"rpm": 60, "concurrency": 4, "budgets": {"5h": 2000000, "day": 5000000},
     "budgets_usd": {"month": "50.00", "total": "200.00"},
     "models": ["claude-sonnet-*"], "networks": ["10.0.0.0/8"]}

Budget windows: ``5h`` starts with the first request after the previous one ended (as Claude's
own five-hour window does); ``day``, ``week`` (from Monday) and ``month`` are calendar windows
in UTC; ``total`` (dollars only) never ends.
"""

from __future__ import annotations

import calendar
import fnmatch
import functools
import ipaddress
import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from link_assistant_router.errors import InvalidRequest
from link_assistant_router.prices import parse_usd, usd

__all__ = [
    "ALL_WINDOWS",
    "FIVE_HOURS_S",
    "LIFETIME",
    "WINDOWS",
    "IpNetwork",
    "KeyLimits",
    "WindowSpan",
    "calendar_span",
    "fresh_after",
    "limits_from_json",
    "new_start",
    "parse_limits",
    "parse_networks",
    "weighted_tokens",
    "window_end",
]

WINDOWS = ("5h", "day", "week", "month")
LIFETIME = "total"
# Every window the ledger counts in (tokens and cost); dollar budgets may use each of them.
ALL_WINDOWS = (*WINDOWS, LIFETIME)
FIVE_HOURS_S = 5 * 3600
_DAY_S = 86400
_MAX_COUNT = 10**12

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rpm: int | None = None
    concurrency: int | None = None
    budgets: dict[str, int] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    budgets_usd: dict[str, int] = field(default_factory=dict)  # window -> micro-dollars

    def is_empty(self) -> bool:
        return not (
            self.rpm or self.concurrency or self.has_budgets() or self.models or self.networks
        )

    def has_budgets(self) -> bool:
        """Whether the key has a budget in tokens or in dollars."""
        return bool(self.budgets or self.budgets_usd)

    def to_dict(self) -> dict[str, Any]:
        """The API's and the store's form: only what is set."""
        document: dict[str, Any] = {}
        if self.rpm is not None:
            document["rpm"] = self.rpm
        if self.concurrency is not None:
            document["concurrency"] = self.concurrency
        if self.budgets:
            document["budgets"] = {w: self.budgets[w] for w in WINDOWS if w in self.budgets}
        if self.budgets_usd:
            document["budgets_usd"] = {
                w: usd(self.budgets_usd[w]) for w in ALL_WINDOWS if w in self.budgets_usd
            }
        if self.models:
            document["models"] = list(self.models)
        if self.networks:
            document["networks"] = list(self.networks)
        return document

    def to_json(self) -> str | None:
        return orjson.dumps(self.to_dict()).decode() if not self.is_empty() else None

    def allows_model(self, model: str | None) -> bool:
        if not self.models:
            return True
        if model is None:
            return False
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def allows_address(self, remote: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address((remote or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in _networks(self.networks))


def parse_networks(text: str, name: str) -> tuple[IpNetwork, ...]:
    """Comma-separated CIDRs (or single addresses) -> networks; ``ValueError`` naming ``name``."""
    networks = []
    for part in text.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"{name}: {part.strip()!r} is not an address or CIDR") from exc
    return tuple(networks)


_NETWORK_CACHE: dict[tuple[str, ...], tuple[IpNetwork, ...]] = {}


def _networks(texts: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    parsed = _NETWORK_CACHE.get(texts)
    if parsed is None:
        parsed = tuple(ipaddress.ip_network(text, strict=False) for text in texts)
        _NETWORK_CACHE[texts] = parsed
    return parsed


def limits_from_json(text: str | None) -> KeyLimits | None:
    """The limits stored with a key (trusted: they were validated when written)."""
    if not text:
        return None
    return parse_limits(orjson.loads(text))


def parse_limits(document: Any, base: KeyLimits | None = None) -> KeyLimits:
    """Validate a limits document; with ``base``, a change to it (``null`` removes a limit)."""
    if not isinstance(document, dict):
        raise InvalidRequest("limits must be a JSON object")
    unknown = set(document) - {"rpm", "concurrency", "budgets", "budgets_usd", "models", "networks"}
    if unknown:
        raise InvalidRequest(f"unknown limit(s): {', '.join(sorted(unknown))}")
    current = base or KeyLimits()
    rpm = _count(document, "rpm", current.rpm)
    concurrency = _count(document, "concurrency", current.concurrency)
    budgets, budgets_usd = dict(current.budgets), dict(current.budgets_usd)
    if "budgets" in document:
        budgets, dollars = _token_budgets(document["budgets"], budgets)
        budgets_usd = _dollar_budgets(dollars, budgets_usd)
    if "budgets_usd" in document:
        budgets_usd = _dollar_budgets(document["budgets_usd"], budgets_usd)
    models = current.models
    if "models" in document:
        models = _strings(document["models"], "limits.models")
    networks = current.networks
    if "networks" in document:
        networks = _strings(document["networks"], "limits.networks")
        try:
            _networks(networks)
        except ValueError as exc:
            raise InvalidRequest(f"limits.networks: {exc}") from exc
    return KeyLimits(rpm, concurrency, budgets, models, networks, budgets_usd)


def _token_budgets(given: Any, budgets: dict[str, int]) -> tuple[dict[str, int], dict[str, Any]]:
    """``budgets`` changed by a ``budgets`` document (``null`` removes one, or them all), and
    the dollar budgets it holds as text, the way the CLI writes them (``"$50"``)."""
    if given is None:
        return {}, {}
    if not isinstance(given, dict):
        raise InvalidRequest("limits.budgets must be an object of window -> tokens")
    dollars = {}
    for window, tokens in given.items():
        if isinstance(tokens, str) and tokens.strip().startswith("$"):
            dollars[window] = tokens
            continue
        if window not in WINDOWS:
            raise InvalidRequest(
                f"limits.budgets: unknown window {window!r} (use {', '.join(WINDOWS)})"
            )
        value = _count({window: tokens}, window, None, f"limits.budgets.{window}")
        if value is None:
            budgets.pop(window, None)
        else:
            budgets[window] = value
    return budgets, dollars


def _dollar_budgets(given: Any, budgets: dict[str, int]) -> dict[str, int]:
    """``budgets`` changed by a ``budgets_usd`` document (``null`` removes one, or them all)."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise InvalidRequest("limits.budgets_usd must be an object of window -> dollars")
    for window, amount in given.items():
        if window not in ALL_WINDOWS:
            raise InvalidRequest(
                f"limits.budgets_usd: unknown window {window!r} (use {', '.join(ALL_WINDOWS)})"
            )
        if amount is None:
            budgets.pop(window, None)
            continue
        try:
            micros = parse_usd(amount)
        except ValueError as exc:
            raise InvalidRequest(f"limits.budgets_usd.{window}: {exc}") from exc
        if micros <= 0:
            raise InvalidRequest(f"limits.budgets_usd.{window} must be more than $0")
        budgets[window] = micros
    return budgets


def _count(document: dict[str, Any], name: str, default: int | None, shown: str = "") -> int | None:
    if name not in document:
        return default
    value = document[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_COUNT:
        raise InvalidRequest(f"{shown or 'limits.' + name} must be a positive whole number")
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"{name} must be a list of non-empty strings")
    if len(value) > 100:
        raise InvalidRequest(f"{name} may hold at most 100 entries")
    return tuple(value)


# --- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """Where a window that holds ``now`` started, and when it ends."""

    start: float
    end: float


def calendar_span(window: str, now: float) -> WindowSpan:
    """The calendar window (day, week, month; UTC) that holds ``now``."""
    return _calendar_span(window, int(now // _DAY_S))


@functools.lru_cache(maxsize=64)
def _calendar_span(window: str, day: int) -> WindowSpan:
    """Calendar windows change only with the day: computed once per day and window."""
    now = day * _DAY_S
    day_start = now
    if window == "day":
        return WindowSpan(day_start, day_start + _DAY_S)
    if window == "week":
        start = day_start - time.gmtime(now).tm_wday * _DAY_S
        return WindowSpan(start, start + 7 * _DAY_S)
    if window == "month":
        t = time.gmtime(now)
        start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        return WindowSpan(start, calendar.timegm((year, month, 1, 0, 0, 0)))
    raise ValueError(f"not a calendar window: {window}")


def fresh_after(window: str, now: float) -> float:
    """A stored window that started before this has ended: its count starts again at ``now``."""
    if window == "5h":
        return now - FIVE_HOURS_S
    if window == LIFETIME:
        return 0.0  # it never ends
    return calendar_span(window, now).start


def new_start(window: str, now: float) -> float:
    """Where a window that begins because of a request at ``now`` starts."""
    return now if window in ("5h", LIFETIME) else calendar_span(window, now).start


def window_end(window: str, start: float) -> float:
    """When a window that started at ``start`` ends (``math.inf``: never)."""
    if window == "5h":
        return start + FIVE_HOURS_S
    if window == LIFETIME:
        return math.inf
    return calendar_span(window, start).end


def weighted_tokens(
    input_tokens: int,
    output_tokens: int,
    cache_creation: int,
    cache_read: int,
    cache_read_weight: float,
) -> float:
    """What a request costs against a budget: cache reads count at ``cache_read_weight``."""
    return input_tokens + output_tokens + cache_creation + cache_read * cache_read_weight
