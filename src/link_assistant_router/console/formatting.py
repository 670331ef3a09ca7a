"""Numbers and times as people read them (1.2 M tokens, 3.4 s, in 2 h 5 min): the templates'
filters. Pure."""

from __future__ import annotations

import math
import time

from markupsafe import Markup, escape

from link_assistant_router.prices import usd
from link_assistant_router.times import iso

__all__ = ["FILTERS", "count", "dollars", "duration_ms", "percent", "since_now", "when"]


def count(value: float | int | None) -> str:
    """``1234567`` -> ``1.2 M``; small numbers as they are."""
    if value is None:
        return "-"
    number = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            shown = number / size
            return f"{shown:.1f} {suffix}" if shown < 100 else f"{shown:.0f} {suffix}"
    return f"{number:.0f}" if number == int(number) else f"{number:.1f}"


def dollars(value: str | int | None) -> str:
    """Dollars as reports give them (exact text) or micro-dollars: ``$0.00122``."""
    if value is None:
        return "-"
    return "$" + (value if isinstance(value, str) else usd(value))


def duration_ms(value: float | None) -> str:
    """Milliseconds as ``850 ms``, ``3.4 s``, ``2 min 5 s``."""
    if value is None:
        return "-"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def percent(value: float | None) -> str:
    """A fraction as a percentage: ``0.423`` -> ``42%``."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value * 100:.0f}%" if value >= 0.01 or value == 0 else f"{value * 100:.1f}%"


def span(seconds: float) -> str:
    """A length of time in its two largest units: ``2 h 5 min``."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0 s"


def since_now(epoch: float | None, now: float | None = None) -> str:
    """``in 2 h 5 min`` or ``3 min ago``; ``never`` for a time that never comes (a lifetime)."""
    if epoch is None:
        return "-"
    if epoch == math.inf:
        return "never"
    delta = epoch - (time.time() if now is None else now)
    return f"in {span(delta)}" if delta >= 0 else f"{span(-delta)} ago"


def when(epoch: float | str | None) -> Markup:
    """A ``<time>`` in UTC; the console's script shows it in the browser's zone, UTC on hover."""
    if epoch is None or epoch == "":
        return Markup("-")
    if epoch == math.inf:
        return Markup("never")
    text = epoch if isinstance(epoch, str) else iso(epoch)
    shown = text.replace("T", " ").replace("Z", " UTC")
    return Markup('<time datetime="{0}" title="{1}">{1}</time>').format(escape(text), shown)


FILTERS = {
    "count": count,
    "dollars": dollars,
    "duration_ms": duration_ms,
    "percent": percent,
    "since_now": since_now,
    "span": span,
    "when": when,
}
