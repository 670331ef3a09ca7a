"""Time ranges the pages offer and usage reports turned into chart series. Pure.

A chart and the table beside it come from one report (``admin.usage.usage_report``): the chart's
series are that report's columns, bucket by bucket.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from link_assistant_router.errors import InvalidRequest
from link_assistant_router.storage.records import BUCKETS
from link_assistant_router.times import iso, parse_time

__all__ = ["PRESETS", "TOKEN_SERIES", "Range", "chosen_range", "series"]

# A preset: its length and the bucket its charts use.
PRESETS = {
    "1h": (3600, "minute"),
    "24h": (86400, "hour"),
    "7d": (7 * 86400, "hour"),
    "30d": (30 * 86400, "day"),
}
TOKEN_SERIES = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cache_creation_input_tokens": "cache write",
    "cache_read_input_tokens": "cache read",
}


@dataclass(frozen=True)
class Range:
    """A report's time range: a preset's name, or ``custom``."""

    name: str
    since: float
    until: float
    bucket: str

    def params(self) -> dict[str, str]:
        """The range as a usage report's parameters."""
        return {"since": repr(self.since), "until": repr(self.until), "group_by": self.bucket}

    def link(self) -> dict[str, str]:
        """The range as the console's own query parameters."""
        if self.name != "custom":
            return {"range": self.name}
        return {"range": "custom", "since": iso(self.since), "until": iso(self.until)}


def _bucket_for(length: float) -> str:
    if length <= 3 * 3600:
        return "minute"
    return "hour" if length <= 8 * 86400 else "day"


def chosen_range(params: Mapping[str, str], now: float, default: str = "24h") -> Range:
    """The range a page's query asks for: a preset (``range=24h``) or ``since``/``until``."""
    name = params.get("range") or default
    if name in PRESETS:
        length, bucket = PRESETS[name]
        # Whole buckets, so the last one is the one still filling.
        size = BUCKETS[bucket]
        end = float(math.ceil(now / size) * size)
        return Range(name, end - length, end, bucket)
    if name != "custom":
        raise InvalidRequest(f"range must be one of {', '.join(PRESETS)} or custom")
    since = parse_time(params.get("since") or "", "since")
    until = parse_time(params["until"], "until") if params.get("until") else now
    if until <= since:
        raise InvalidRequest("the range must end after it starts")
    return Range("custom", since, until, _bucket_for(until - since))


def series(report: dict[str, Any], since: float, columns: Mapping[str, str]) -> dict[str, Any]:
    """A bucketed report as chart data: bucket start times (UNIX seconds) and one list of
    values per column (``columns``: report column -> label)."""
    size = BUCKETS[report["group_by"]]
    first = math.floor(since / size)
    rows = report["data"]
    return {
        "x": [(first + number) * size for number in range(len(rows))],
        "series": [
            {"label": label, "values": [row[column] for row in rows]}
            for column, label in columns.items()
        ],
    }
