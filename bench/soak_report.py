"""The soak's verdict and its Markdown report (bench/soak.py).

Pure: the router's RSS and open files, sampled at a steady interval, are judged on the samples
after the warm-up (the first third): a least-squares line through them, and how far it rises over
their span, against a tolerance; ``render`` writes the section of docs/benchmarks.md between
``START`` and ``END``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stats import Distribution, distribution, slope

START = "<!-- soak:start -->"
END = "<!-- soak:end -->"
HEADING = "## Soak: an hour of mixed traffic (issue 12)"
WARMUP_SHARE = 1 / 3
MIN_JUDGED = 3
# Flat: the fitted line rises by less than this over the judged samples' span.
RSS_TOLERANCE_SHARE = 0.05  # of their mean RSS
FILES_TOLERANCE_SHARE = 0.10  # of their mean count of open files...
FILES_TOLERANCE_MIN = 10  # ...or this many, whichever is more


@dataclass(frozen=True)
class Sample:
    """The router's process tree ``at_s`` after the start, and the traffic so far."""

    at_s: float
    rss_kb: int
    open_files: int
    requests: int
    errors: int
    in_flight: int


@dataclass(frozen=True)
class Trend:
    """One measure over the judged samples (after the warm-up)."""

    name: str
    unit: str
    start: float
    judged_from: float
    end: float
    idle: float | None
    low: float
    high: float
    per_hour: float | None
    growth: float | None
    tolerance: float
    judged: int

    @property
    def flat(self) -> bool | None:
        """Whether the line rises less than the tolerance; None with too few samples."""
        if self.growth is None or self.judged < MIN_JUDGED:
            return None
        return self.growth < self.tolerance


def judged(samples: Sequence[Sample]) -> list[Sample]:
    """The samples after the warm-up: the last two thirds (rounded up)."""
    skip = int(len(samples) * WARMUP_SHARE)
    return list(samples[skip:])


def trend(
    samples: Sequence[Sample],
    name: str,
    unit: str,
    value: Callable[[Sample], float],
    tolerance: Callable[[float], float],
    after: Sample | None = None,
) -> Trend:
    """``value`` over ``samples`` (taken under load), judged after the warm-up; ``tolerance``
    of the judged mean. ``after``: the sample once the load was over, shown, not judged."""
    kept = judged(samples)
    xs = [s.at_s for s in kept]
    ys = [value(s) for s in kept]
    fitted = slope(xs, ys) if len(kept) >= 2 else None
    mean = sum(ys) / len(ys) if ys else 0.0
    return Trend(
        name=name,
        unit=unit,
        start=value(samples[0]) if samples else 0.0,
        judged_from=ys[0] if ys else 0.0,
        end=ys[-1] if ys else 0.0,
        idle=None if after is None else value(after),
        low=min(ys, default=0.0),
        high=max(ys, default=0.0),
        per_hour=None if fitted is None else fitted * 3600,
        growth=None if fitted is None else fitted * (xs[-1] - xs[0]),
        tolerance=tolerance(mean),
        judged=len(kept),
    )


def trends(samples: Sequence[Sample], after: Sample | None = None) -> tuple[Trend, Trend]:
    """The RSS (MB) and open files trends."""
    rss = trend(
        samples,
        "RSS",
        "MB",
        lambda s: s.rss_kb / 1024,
        lambda mean: RSS_TOLERANCE_SHARE * mean,
        after,
    )
    files = trend(
        samples,
        "open files",
        "",
        lambda s: float(s.open_files),
        lambda mean: max(FILES_TOLERANCE_MIN, FILES_TOLERANCE_SHARE * mean),
        after,
    )
    return rss, files


@dataclass(frozen=True)
class Traffic:
    """What the clients sent and saw, by kind (``json``, ``stream``); latencies in seconds (a
    JSON answer's whole time, a stream's time to first byte)."""

    kind: str
    requests: int
    errors: Counter[str]
    first_error: dict[str, str]
    latency: Distribution | None

    @staticmethod
    def of(kind: str, latencies: Sequence[float], errors: Sequence[str]) -> Traffic:
        counted: Counter[str] = Counter()
        first: dict[str, str] = {}
        for error in errors:
            what = error.split(":", 1)[0]
            counted[what] += 1
            first.setdefault(what, error)
        return Traffic(kind, len(latencies) + len(errors), counted, first, distribution(latencies))


def _number(value: float, unit: str) -> str:
    text = f"{value:,.1f}" if unit else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def _signed(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return ("+" if value >= 0 else "-") + _number(abs(value), unit)


def _verdict(found: Trend) -> str:
    if found.flat is None:
        return f"not judged (fewer than {MIN_JUDGED} samples after the warm-up)"
    return "flat" if found.flat else "**rising**"


def trend_table(found: Sequence[Trend]) -> list[str]:
    rows = [
        "| measure | at start | after warm-up | at the end | idle after | "
        "min-max after warm-up | fitted slope per hour | rise over the judged span | "
        "tolerance | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in found:
        idle = "—" if t.idle is None else _number(t.idle, t.unit)
        rows.append(
            f"| {t.name} | {_number(t.start, t.unit)} | {_number(t.judged_from, t.unit)} | "
            f"{_number(t.end, t.unit)} | {idle} | "
            f"{_number(t.low, t.unit)} - {_number(t.high, t.unit)} | "
            f"{_signed(t.per_hour, t.unit)} | {_signed(t.growth, t.unit)} | "
            f"< {_number(t.tolerance, t.unit)} | {_verdict(t)} |"
        )
    return rows


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:,.1f} ms"


def traffic_table(traffic: Sequence[Traffic], minutes: float) -> list[str]:
    rows = [
        "| kind | requests | per second | errors | latency p50 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in traffic:
        rate = t.requests / (minutes * 60) if minutes > 0 else 0.0
        latency = ("—", "—", "—")
        if t.latency is not None:
            latency = (_ms(t.latency.p50), _ms(t.latency.p99), _ms(t.latency.max))
        rows.append(
            f"| {t.kind} | {t.requests:,} | {rate:,.1f} | {sum(t.errors.values()):,} | "
            f"{latency[0]} | {latency[1]} | {latency[2]} |"
        )
    return rows


def thinned(samples: Sequence[Sample], rows: int = 13) -> list[Sample]:
    """At most ``rows`` of ``samples``, evenly spread, the first and last among them."""
    if len(samples) <= rows:
        return list(samples)
    step = (len(samples) - 1) / (rows - 1)
    return [samples[round(i * step)] for i in range(rows)]


def samples_table(samples: Sequence[Sample], after: Sample | None = None) -> list[str]:
    rows = [
        "| minute | RSS | open files | requests so far | errors so far | in flight |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    shown = [(s, "") for s in thinned(samples)] + ([(after, " (idle)")] if after else [])
    for s, label in shown:
        rows.append(
            f"| {s.at_s / 60:.1f}{label} | {s.rss_kb / 1024:,.1f} MB | {s.open_files:,} | "
            f"{s.requests:,} | {s.errors:,} | {s.in_flight:,} |"
        )
    return rows


def problems(traffic: Sequence[Traffic], found: Sequence[Trend], extra: Sequence[str]) -> list[str]:
    listed = list(extra)
    for t in traffic:
        for what, count in t.errors.most_common():
            listed.append(f"{t.kind}: {count:,} x {what}; first: `{t.first_error[what]}`")
    listed += [f"{t.name} rises after the warm-up" for t in found if t.flat is False]
    return listed


def render(
    info: Sequence[tuple[str, str]],
    notes: Sequence[str],
    minutes: float,
    traffic: Sequence[Traffic],
    samples: Sequence[Sample],
    after: Sample | None,
    extra_problems: Sequence[str],
) -> str:
    """The whole section, as it goes between the markers: ``samples`` taken under load,
    ``after`` once it was over."""
    found = trends(samples, after)
    listed = problems(traffic, found, extra_problems)
    skipped = len(samples) - len(judged(samples))
    parts = [
        "### Machine and command",
        "",
        *[f"- {name}: {value}" for name, value in info],
        *[f"- {note}" for note in notes],
        "",
        "### Traffic (latency: a JSON answer's whole time, a stream's first byte)",
        "",
        *traffic_table(traffic, minutes),
        "",
        f"### Router memory and open files ({len(samples)} samples; the first {skipped} are the "
        "warm-up)",
        "",
        *trend_table(found),
        "",
        "### Samples",
        "",
        *samples_table(samples, after),
        "",
        "### Problems",
        "",
        *(
            [f"- ⚠ {problem}" for problem in listed]
            or ["- none: no errors, RSS and open files flat after the warm-up"]
        ),
    ]
    return "\n".join(parts) + "\n"
