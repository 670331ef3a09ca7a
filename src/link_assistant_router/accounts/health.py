"""Reading an upstream answer for the health of the account that served it (REFERENCE §6).

Pure functions of data: nothing here reads a clock or a socket, the caller passes ``now``
(epoch seconds). Two questions are answered:

- ``parse_quota``: what do the ``anthropic-ratelimit-unified-*`` headers say about the
  account's subscription windows (5-hour, 7-day, ...)? Read from every response.
- ``classify`` and ``classify_stream_error``: what does this answer mean for the account? A
  ``Verdict`` whose ``kind`` the proxy acts on: pass the answer on, cool the account down,
  refresh its token, take it out of rotation, or fail over.

Anything unreadable (a garbage header value, a body that is not JSON) is ignored, never raised:
an answer the router cannot read still has to reach the client. Upstream wording is matched
case-insensitively on a few stable phrases, and a ``Verdict`` carries only the upstream error's
type and message (secrets redacted, at most 200 characters), never header values.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "DEFAULT_COOLDOWN_S",
    "MAX_COOLDOWN_S",
    "REASON_MAX_CHARS",
    "REJECTED",
    "UNIFIED_PREFIX",
    "QuotaSnapshot",
    "QuotaWindow",
    "Verdict",
    "VerdictKind",
    "classify",
    "classify_stream_error",
    "parse_quota",
]

UNIFIED_PREFIX = "anthropic-ratelimit-unified-"
REJECTED = "rejected"
# When a spent account's 429 says nothing about when it may be used again.
DEFAULT_COOLDOWN_S = 60.0
# The longest cooldown a header can impose: a 7-day window plus a day. A garbage or misread
# reset must not bench an account for good.
MAX_COOLDOWN_S = 8 * 86400.0
REASON_MAX_CHARS = 200

_WINDOW_FIELDS = frozenset({"status", "reset", "utilization"})
# ``overage-status`` says whether extra usage may be bought, not that a window is spent: a
# rejected overage must never bench an account.
_NOT_WINDOWS = frozenset({"overage"})
_WINDOW_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_STATUS_VALUE = re.compile(r"[a-z_]{1,32}")
_CLAIM_VALUE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# An epoch this large is in milliseconds (seconds would be past the year 5000).
_MILLISECONDS_FROM = 1e11

# Upstream messages should never echo a credential; if one ever does, it stops here.
_SECRET = re.compile(r"\b(sk-ant-[a-z0-9]+-|la_sk_)[A-Za-z0-9_.-]+")
_WHITESPACE = re.compile(r"\s+")
_LOGIN_IS_DEAD = re.compile(
    r"oauth authentication is currently not allowed"
    r"|\b(?:organi[sz]ation|account)\s+(?:has\s+been\s+|is\s+|was\s+)?"
    r"(?:disabled|suspended|deactivated|banned)\b"
    r"|\brevoked\b"
)
_CLAUDE_CODE_ONLY = "only authorized for use with claude code"

# The HTTP status each documented error type comes with, for errors that arrive inside a
# 200 stream.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """One subscription window (``5h``, ``7d``, ``7d_oi``, ...) as the last response saw it.

    ``reset`` is in epoch seconds; ``utilization`` is a fraction of the window (1.0 = spent,
    possibly more).
    """

    status: str | None = None
    reset: float | None = None
    utilization: float | None = None


@dataclass(frozen=True, slots=True)
class QuotaSnapshot:
    """What one response's ``anthropic-ratelimit-unified-*`` and ``retry-after`` headers said.

    ``status`` is ``allowed``, ``allowed_warning`` or ``rejected``; ``reset`` (epoch seconds) is
    when the overall limit resets; ``representative_claim`` names the window that decided
    (``five_hour``, ``seven_day``, ...); ``retry_after`` is in seconds from the response.
    """

    status: str | None = None
    reset: float | None = None
    representative_claim: str | None = None
    overage_status: str | None = None
    retry_after: float | None = None
    windows: Mapping[str, QuotaWindow] = field(default_factory=dict)

    @property
    def rejected_windows(self) -> tuple[str, ...]:
        """The names of the windows that say ``rejected``, sorted."""
        return tuple(sorted(name for name, w in self.windows.items() if w.status == REJECTED))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready document of this snapshot (``from_json`` reads it back)."""
        return {
            "status": self.status,
            "reset": self.reset,
            "representative_claim": self.representative_claim,
            "overage_status": self.overage_status,
            "retry_after": self.retry_after,
            "windows": {
                name: {"status": w.status, "reset": w.reset, "utilization": w.utilization}
                for name, w in self.windows.items()
            },
        }

    @classmethod
    def from_json(cls, data: str | bytes | Mapping[str, Any]) -> QuotaSnapshot | None:
        """The snapshot ``to_json`` wrote, given as its JSON text or the document; None if the
        data is not such a document. Fields of the wrong type are dropped, never raised on."""
        document: Any = data
        if isinstance(data, str | bytes):
            try:
                document = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
        if not isinstance(document, Mapping):
            return None
        windows: dict[str, QuotaWindow] = {}
        stored = document.get("windows")
        if isinstance(stored, Mapping):
            for name, fields in stored.items():
                if isinstance(name, str) and isinstance(fields, Mapping):
                    windows[name] = QuotaWindow(
                        status=_stored_text(fields.get("status")),
                        reset=_stored_number(fields.get("reset")),
                        utilization=_stored_number(fields.get("utilization")),
                    )
        return cls(
            status=_stored_text(document.get("status")),
            reset=_stored_number(document.get("reset")),
            representative_claim=_stored_text(document.get("representative_claim")),
            overage_status=_stored_text(document.get("overage_status")),
            retry_after=_stored_number(document.get("retry_after")),
            windows=windows,
        )


class VerdictKind(enum.StrEnum):
    """What an upstream answer means for the account that served it (values: lowercase names)."""

    OK = enum.auto()
    """The account is fine: a success, or a 4xx the client caused (400, 404, 413, ...)."""
    CLIENT_NOT_ALLOWED = enum.auto()
    """400 "This credential is only authorized for use with Claude Code": this client may not
    use a subscription credential. The account is fine; the answer passes through as sent."""
    WINDOW_REJECTED = enum.auto()
    """429 from a spent account (a window, or the overall status, says ``rejected``): cool it
    down until ``cooldown_until`` and fail over."""
    REQUEST_SCOPED_429 = enum.auto()
    """A 429 about this one request ("Extra usage is required for long context requests"):
    no cooldown, the answer passes through."""
    OVERLOADED = enum.auto()
    """529 or ``overloaded_error``: the caller applies its configured short cooldown."""
    TOKEN_EXPIRED = enum.auto()
    """401 saying the OAuth token expired (or a 401 whose body cannot be read): refresh the
    token and retry once; if that is impossible, the account needs a login."""
    NEEDS_LOGIN = enum.auto()
    """The credential is dead (invalid key, revoked, organization disabled or not allowed to
    use OAuth): a person must act. Take the account out of rotation."""
    SERVER_ERROR = enum.auto()
    """A 5xx other than 529: the account is fine, this request may fail over."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The kind of answer, why (sanitized upstream type and message), and for
    ``WINDOW_REJECTED`` the epoch second until which the account should rest."""

    kind: VerdictKind
    reason: str | None = None
    cooldown_until: float | None = None


# The last snapshots read, by the headers they were read from: an account's answers repeat
# the same values for seconds at a time (a snapshot is never changed once made).
_READ: dict[tuple[tuple[str, str], ...], QuotaSnapshot | None] = {}
_MAX_READ = 256


def parse_quota(headers: Mapping[str, str]) -> QuotaSnapshot | None:
    """The quota state a response's headers describe; None when they describe none.

    Reads ``anthropic-ratelimit-unified-{status,reset,representative-claim,overage-status}``,
    every ``anthropic-ratelimit-unified-<window>-{status,reset,utilization}`` and ``retry-after``
    (seconds). Header names are matched case-insensitively; values that cannot be read are
    ignored, and when nothing readable is left the answer is None.
    """
    relevant = tuple(
        (lowered, value)
        for name, value in headers.items()
        if (lowered := name.lower()).startswith(UNIFIED_PREFIX) or lowered == "retry-after"
    )
    if not relevant:
        return None
    found = _READ.get(relevant, False)
    if found is False:
        if len(_READ) >= _MAX_READ:
            _READ.clear()
        found = _READ[relevant] = _parse_quota(relevant)
    return found  # type: ignore[return-value]


def _parse_quota(headers: tuple[tuple[str, str], ...]) -> QuotaSnapshot | None:
    status: str | None = None
    reset: float | None = None
    claim: str | None = None
    overage: str | None = None
    retry_after: float | None = None
    parts: dict[str, dict[str, str]] = {}
    for lowered, value in headers:
        if lowered == "retry-after":
            retry_after = _number(value)
            continue
        if not lowered.startswith(UNIFIED_PREFIX):
            continue
        key = lowered[len(UNIFIED_PREFIX) :]
        if key == "status":
            status = _status(value)
        elif key == "reset":
            reset = _epoch(value)
        elif key == "representative-claim":
            claim = value.strip() if _CLAIM_VALUE.fullmatch(value.strip()) else None
        elif key == "overage-status":
            overage = _status(value)
        else:
            window, _, part = key.rpartition("-")
            if (
                part in _WINDOW_FIELDS
                and window not in _NOT_WINDOWS
                and _WINDOW_NAME.fullmatch(window)
            ):
                parts.setdefault(window, {})[part] = value
    windows: dict[str, QuotaWindow] = {}
    for window, values in parts.items():
        parsed = QuotaWindow(
            status=_status(values.get("status")),
            reset=_epoch(values.get("reset")),
            utilization=_number(values.get("utilization")),
        )
        if parsed != QuotaWindow():
            windows[window] = parsed
    if not windows and all(v is None for v in (status, reset, claim, overage, retry_after)):
        return None
    return QuotaSnapshot(status, reset, claim, overage, retry_after, windows)


def classify(status: int, headers: Mapping[str, str], body: bytes | None, now: float) -> Verdict:
    """What an upstream response means for its account (see ``VerdictKind``).

    ``body`` is the error body when it was read (None otherwise); it is parsed only for
    statuses from 400 up, and ``overloaded_error`` in it means OVERLOADED whatever the status.
    """
    if status < 400:
        return Verdict(VerdictKind.OK)
    error_type, message = _error_of(body)
    return _judge(status, error_type, message, headers, now, f"HTTP {status}")


def classify_stream_error(event_data: bytes, now: float) -> Verdict:
    """What an ``event: error`` at the start of a 200 stream means for its account.

    ``event_data`` is the event's JSON (``{"type":"error","error":{...}}``). The error type
    stands for its documented status: ``overloaded_error`` is OVERLOADED, ``rate_limit_error``
    REQUEST_SCOPED_429 (a stream carries no rejected-window headers to say otherwise),
    ``api_error`` and anything unreadable SERVER_ERROR.
    """
    error_type, message = _error_of(event_data)
    status = _STATUS_OF_TYPE.get(error_type or "", 500)
    return _judge(status, error_type, message, {}, now, "unreadable stream error")


def _judge(
    status: int,
    error_type: str | None,
    message: str | None,
    headers: Mapping[str, str],
    now: float,
    unreadable: str,
) -> Verdict:
    reason = _reason(error_type, message, unreadable)
    text = (message or "").lower()
    if status == 529 or error_type == "overloaded_error":
        return Verdict(VerdictKind.OVERLOADED, reason)
    if status == 429:
        return _rate_limited(headers, reason, now)
    if status in (401, 403) and _LOGIN_IS_DEAD.search(text):
        return Verdict(VerdictKind.NEEDS_LOGIN, reason)
    if status == 401:
        # Unreadable 401s are treated as expired: one refresh is cheap, and the proxy takes
        # the account out of rotation if the refreshed token is refused too.
        expired = message is None or "expired" in text
        return Verdict(VerdictKind.TOKEN_EXPIRED if expired else VerdictKind.NEEDS_LOGIN, reason)
    if status >= 500:
        return Verdict(VerdictKind.SERVER_ERROR, reason)
    if _CLAUDE_CODE_ONLY in text:
        return Verdict(VerdictKind.CLIENT_NOT_ALLOWED, reason)
    return Verdict(VerdictKind.OK, reason)


def _rate_limited(headers: Mapping[str, str], reason: str, now: float) -> Verdict:
    """A 429: a spent account (cool it down) or a refusal of this one request."""
    quota = parse_quota(headers) or QuotaSnapshot()
    rejected = quota.rejected_windows
    if rejected:
        resets = [r for r in (quota.windows[n].reset for n in rejected) if r is not None]
        until = max(resets) if resets and max(resets) > now else _fallback_until(quota, now)
        return _cool_down(f"{', '.join(rejected)} limit reached: {reason}", until, now)
    # An overall "rejected" counts unless the windows say, each of them, that they are fine:
    # then something else (extra usage for long context, say) refused this one request.
    windows_known = any(w.status is not None for w in quota.windows.values())
    if quota.status == REJECTED and not windows_known:
        claim = f" ({quota.representative_claim})" if quota.representative_claim else ""
        return _cool_down(f"limit reached{claim}: {reason}", _fallback_until(quota, now), now)
    if _api_limit_spent(headers):
        until = now + quota.retry_after if quota.retry_after else now + DEFAULT_COOLDOWN_S
        return _cool_down(f"API rate limit reached: {reason}", until, now)
    return Verdict(VerdictKind.REQUEST_SCOPED_429, reason)


def _fallback_until(quota: QuotaSnapshot, now: float) -> float:
    if quota.reset is not None and quota.reset > now:
        return quota.reset
    if quota.retry_after:
        return now + quota.retry_after
    return now + DEFAULT_COOLDOWN_S


def _cool_down(reason: str, until: float, now: float) -> Verdict:
    return Verdict(VerdictKind.WINDOW_REJECTED, _truncate(reason), min(until, now + MAX_COOLDOWN_S))


def _api_limit_spent(headers: Mapping[str, str]) -> bool:
    """An API-key account's per-minute limit is spent: some ``...-remaining`` header is 0."""
    for name, value in headers.items():
        lowered = name.lower()
        if (
            lowered.startswith("anthropic-ratelimit-")
            and lowered.endswith("-remaining")
            and not lowered.startswith(UNIFIED_PREFIX)
            and value.strip() == "0"
        ):
            return True
    return False


def _error_of(body: bytes | None) -> tuple[str | None, str | None]:
    """The ``error.type`` and ``error.message`` of an Anthropic error body, where readable."""
    if not body:
        return None, None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, None
    error_type, message = error.get("type"), error.get("message")
    return (
        error_type if isinstance(error_type, str) else None,
        message if isinstance(message, str) else None,
    )


def _reason(error_type: str | None, message: str | None, unreadable: str) -> str:
    if error_type and message:
        text = f"{error_type}: {message}"
    else:
        text = error_type or message or unreadable
    text = _WHITESPACE.sub(" ", _SECRET.sub(r"\1[redacted]", text)).strip()
    return _truncate(text)


def _truncate(text: str) -> str:
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"


def _number(value: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _epoch(value: str | None) -> float | None:
    """Epoch seconds from seconds, milliseconds or an ISO 8601 time; None if unreadable."""
    number = _number(value)
    if number is not None:
        if number <= 0:
            return None
        return number / 1000 if number >= _MILLISECONDS_FROM else number
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    return lowered if _STATUS_VALUE.fullmatch(lowered) else None


def _stored_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _stored_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
