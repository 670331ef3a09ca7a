"""Times as the router shows and reads them: RFC 3339 text in UTC for UNIX seconds, and the
times people type (UNIX seconds or ISO 8601). Pure."""

from __future__ import annotations

import datetime
import time

from link_assistant_router.errors import InvalidRequest

__all__ = ["iso", "iso_or_none", "parse_time"]


def iso(epoch: float) -> str:
    """RFC 3339 UTC text for a UNIX time, as the API shows times: ``2026-11-01T12:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def iso_or_none(epoch: float | None) -> str | None:
    """``iso``, with None for no time."""
    return None if epoch is None else iso(epoch)


def parse_time(text: str, name: str) -> float:
    """UNIX seconds, or an ISO 8601 date or time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(
            f"{name} must be UNIX seconds or an ISO 8601 date or time, like 2026-11-01"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
