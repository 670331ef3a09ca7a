"""The capacity scenario's numbers and its Markdown report (bench/capacity.py).

Pure: a ``TargetRun`` holds what one target's run recorded (the clients' outcomes, the
upstream's timings, CPU, memory samples); ``analyze`` turns it into the figures the targets are
checked on, ``render`` into the section of docs/benchmarks.md between ``START`` and ``END``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from footprint import Footprint
from stats import Distribution, distribution
from streamers import Outcome
from upstream import OPENING_EVENTS, Timing

START = "<!-- capacity:start -->"
END = "<!-- capacity:end -->"
HEADING = "## Capacity: thousands of concurrent streams (issue 12)"
DIRECT = "direct"
# The targets of issue 12, for every router run.
FIRST_BYTE_LIMIT_S = 1.0
ADDED_P99_LIMIT_S = 0.020


@dataclass(frozen=True)
class Sample:
    """The server under test, sampled during the load (``at_s`` after the start)."""

    at_s: float
    open_streams: int
    rss_kb: int
    open_files: int


@dataclass(frozen=True)
class CpuUse:
    """CPU time (µs) over the run's window, by whom; ``machine`` is everything, steal included."""

    router: float
    upstream: float
    clients: float
    harness: float
    machine: float


@dataclass(frozen=True)
class TargetRun:
    """What one target's run recorded. ``workers`` is 0 for the direct baseline."""

    label: str
    workers: int
    streams: int
    outcomes: list[Outcome]
    timings: dict[str, Timing]
    window_s: float
    cpu: CpuUse
    cores: int
    before: Footprint | None = None
    after: Footprint | None = None
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True)
class Analysis:
    """One run's figures; times in seconds."""

    run: TargetRun
    completed: int
    errors: Counter[str]
    first_error: dict[str, str]
    first_byte_added: Distribution | None
    reached_upstream: Distribution | None
    event_delay: Distribution | None
    events: int
    busiest_second: int
    peak: Sample | None

    @property
    def events_per_s(self) -> float:
        return self.events / self.run.window_s if self.run.window_s > 0 else 0.0

    @property
    def router_cpu_per_event_us(self) -> float | None:
        if not self.run.workers or not self.events:
            return None
        return self.run.cpu.router / self.events

    @property
    def rss_per_stream_kb(self) -> float | None:
        """RSS gained from before the load to the sample with the most open streams, per open
        stream."""
        if self.run.before is None or self.peak is None or not self.peak.open_streams:
            return None
        return (self.peak.rss_kb - self.run.before.rss_kb) / self.peak.open_streams


def first_byte_added(outcome: Outcome, timing: Timing) -> float | None:
    """How much later the client's first byte came than the upstream alone would have sent it:
    the client's time to first byte minus the upstream's own (from its request's arrival to its
    first write). Waiting for a pool slot, the body's way through, the relay: all count."""
    if outcome.first_byte is None or not timing.sent:
        return None
    return (outcome.first_byte - outcome.started) - (timing.sent[0] - timing.received)


def event_delays(outcome: Outcome, timing: Timing) -> list[float]:
    """Each event's arrival at the client minus its write at the upstream, after the opening
    write (whose arrival is the first byte)."""
    pairs = zip(outcome.arrivals, timing.sent, strict=False)
    return [arrived - sent for arrived, sent in list(pairs)[OPENING_EVENTS:]]


def busiest_second(arrivals: Sequence[float]) -> int:
    """The most events that arrived within one second (counted in whole seconds from the first
    arrival)."""
    if not arrivals:
        return 0
    first = min(arrivals)
    return max(Counter(int(at - first) for at in arrivals).values())


def analyze(run: TargetRun) -> Analysis:
    errors: Counter[str] = Counter()
    first_error: dict[str, str] = {}
    first_bytes: list[float] = []
    reached: list[float] = []
    delays: list[float] = []
    events = 0
    for outcome in run.outcomes:
        events += len(outcome.arrivals)
        timing = run.timings.get(outcome.stream_id)
        error = outcome.error
        if not error and timing is None:
            error = "untimed: the upstream has no record of the stream"
        if error:
            kind = error.split(":", 1)[0]
            errors[kind] += 1
            first_error.setdefault(kind, error)
        if timing is None:
            continue
        reached.append(timing.received - outcome.started)
        added = first_byte_added(outcome, timing)
        if added is not None:
            first_bytes.append(added)
        delays += event_delays(outcome, timing)
    missing = run.streams - len(run.outcomes)
    if missing > 0:
        errors["lost"] += missing
        first_error.setdefault("lost", f"lost: {missing} streams never reported back")
    peak = max(run.samples, key=lambda s: (s.open_streams, s.rss_kb), default=None)
    return Analysis(
        run,
        completed=sum(not outcome.error for outcome in run.outcomes),
        errors=errors,
        first_error=first_error,
        first_byte_added=distribution(first_bytes),
        reached_upstream=distribution(reached),
        event_delay=distribution(delays),
        events=events,
        busiest_second=busiest_second([at for o in run.outcomes for at in o.arrivals]),
        peak=peak,
    )


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1000
    if abs(ms) < 10:
        return f"{ms:.2f} ms"
    if abs(ms) < 100:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def _dist(found: Distribution | None) -> tuple[str, str, str]:
    if found is None:
        return "—", "—", "—"
    return _ms(found.p50), _ms(found.p99), _ms(found.max)


def _mb(kb: float | None) -> str:
    return "—" if kb is None else f"{kb / 1024:,.1f} MB"


def _core(us: float, window_s: float) -> str:
    return f"{us / (window_s * 1e6):.0%}" if window_s > 0 else "—"


def _met(met: bool) -> str:
    return "met" if met else "**missed**"


def direct_of(analyses: Sequence[Analysis]) -> Analysis | None:
    return next((a for a in analyses if not a.run.workers), None)


def added_p99(analysis: Analysis, direct: Analysis | None) -> float | None:
    """The p99 event delay through the router minus the direct baseline's (the clients' and the
    upstream's own share); the router's own p99 when there is no baseline."""
    if analysis.event_delay is None:
        return None
    if direct is None or direct.event_delay is None:
        return analysis.event_delay.p99
    return analysis.event_delay.p99 - direct.event_delay.p99


def streams_table(analyses: Sequence[Analysis]) -> list[str]:
    rows = [
        "| target | streams | whole | errors | peak open | events | events/s | "
        "busiest second | per worker (average / busiest) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in analyses:
        per_worker = "—"
        if a.run.workers:
            average, busiest = a.events_per_s / a.run.workers, a.busiest_second / a.run.workers
            per_worker = f"{average:,.0f} / {busiest:,.0f}"
        peak = f"{a.peak.open_streams:,}" if a.peak else "—"
        rows.append(
            f"| {a.run.label} | {a.run.streams:,} | {a.completed:,} | {sum(a.errors.values()):,} "
            f"| {peak} | {a.events:,} | {a.events_per_s:,.0f} | {a.busiest_second:,} | "
            f"{per_worker} |"
        )
    return rows


def latency_table(analyses: Sequence[Analysis]) -> list[str]:
    direct = direct_of(analyses)
    rows = [
        "| target | first byte added p50 | p99 | max | request at upstream p99 | "
        "event delay p50 | p99 | max | p99 over direct |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in analyses:
        first = _dist(a.first_byte_added)
        delay = _dist(a.event_delay)
        reached = _ms(a.reached_upstream.p99) if a.reached_upstream else "—"
        over = "—" if a is direct or direct is None else _signed(added_p99(a, direct))
        rows.append(
            f"| {a.run.label} | {first[0]} | {first[1]} | {first[2]} | {reached} | "
            f"{delay[0]} | {delay[1]} | {delay[2]} | {over} |"
        )
    return rows


def _signed(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return ("+" if seconds >= 0 else "-") + _ms(abs(seconds))


def resources_table(analyses: Sequence[Analysis]) -> list[str]:
    rows = [
        "| target | router CPU (of one core) | CPU µs/event | events/s a core sustains | "
        "RSS before | RSS at peak | RSS per open stream | open files at peak | RSS after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in analyses:
        if not a.run.workers:
            continue
        per_event = a.router_cpu_per_event_us
        sustains = "—" if not per_event else f"{1e6 / per_event:,.0f}"
        per_stream = a.rss_per_stream_kb
        rows.append(
            f"| {a.run.label} | {_core(a.run.cpu.router, a.run.window_s)} | "
            f"{'—' if per_event is None else f'{per_event:,.0f}'} | {sustains} | "
            f"{_mb(a.run.before.rss_kb if a.run.before else None)} | "
            f"{_mb(a.peak.rss_kb if a.peak else None)} | "
            f"{'—' if per_stream is None else f'{per_stream:,.1f} KB'} | "
            f"{f'{a.peak.open_files:,}' if a.peak else '—'} | "
            f"{_mb(a.run.after.rss_kb if a.run.after else None)} |"
        )
    return rows


def cpu_table(analyses: Sequence[Analysis]) -> list[str]:
    rows = [
        "| target | window | router | fake upstream | clients | harness | other | idle |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in analyses:
        cpu, window = a.run.cpu, a.run.window_s
        ours = cpu.router + cpu.upstream + cpu.clients + cpu.harness
        other = max(0.0, cpu.machine - ours)
        idle = max(0.0, a.run.cores * window * 1e6 - cpu.machine)
        router = _core(cpu.router, window) if a.run.workers else "—"
        rows.append(
            f"| {a.run.label} | {window:.1f} s | {router} | {_core(cpu.upstream, window)} | "
            f"{_core(cpu.clients, window)} | {_core(cpu.harness, window)} | "
            f"{_core(other, window)} | {_core(idle, window)} |"
        )
    return rows


def verdicts(analyses: Sequence[Analysis]) -> list[str]:
    """The targets, for every router run."""
    direct = direct_of(analyses)
    rows = [
        "| target | zero errors | every first byte within 1 s of the upstream's | "
        "added p99 event delay ≤ 20 ms |",
        "|---|---|---|---|",
    ]
    for a in analyses:
        if not a.run.workers:
            continue
        errors = sum(a.errors.values())
        first = a.first_byte_added
        added = added_p99(a, direct)
        basis = "" if direct is not None else " (no direct baseline: the raw p99)"
        rows.append(
            f"| {a.run.label} | {errors:,} errors: {_met(errors == 0)} | "
            + (
                "— | "
                if first is None
                else f"max +{_ms(first.max)}: {_met(first.max <= FIRST_BYTE_LIMIT_S)} | "
            )
            + (
                "— |"
                if added is None
                else f"{_signed(added)}{basis}: {_met(added <= ADDED_P99_LIMIT_S)} |"
            )
        )
    return rows


def gains(analyses: Sequence[Analysis]) -> list[str]:
    """Each multi-worker run's delivered events/s and CPU per event over one worker's."""
    one = next((a for a in analyses if a.run.workers == 1), None)
    found = []
    for a in analyses:
        if one is None or a.run.workers <= 1 or not one.events_per_s:
            continue
        line = (
            f"- {a.run.label} over {one.run.label}: {a.events_per_s / one.events_per_s:.2f}x "
            f"the events delivered per second ({a.events_per_s:,.0f} vs {one.events_per_s:,.0f})"
        )
        mine, theirs = a.router_cpu_per_event_us, one.router_cpu_per_event_us
        if mine and theirs:
            line += f"; CPU per event {mine / theirs:.2f}x ({mine:,.0f} vs {theirs:,.0f} µs)"
        if a.event_delay and one.event_delay:
            line += f"; event delay p99 {_ms(a.event_delay.p99)} vs {_ms(one.event_delay.p99)}"
        found.append(line)
    return found or ["- not measured: needs a run with one worker and one with more"]


def problems(analyses: Sequence[Analysis], extra: Sequence[str]) -> list[str]:
    found = list(extra)
    for a in analyses:
        for kind, count in a.errors.most_common():
            found.append(f"{a.run.label}: {count:,} x {kind}; first: `{a.first_error[kind]}`")
    return found


def render(
    info: list[tuple[str, str]],
    notes: list[str],
    runs: Sequence[TargetRun],
    extra_problems: Sequence[str],
) -> str:
    """The whole section, as it goes between the markers."""
    analyses = [analyze(run) for run in runs]
    found = problems(analyses, extra_problems)
    parts = [
        "### Machine and command",
        "",
        *[f"- {name}: {value}" for name, value in info],
        *[f"- {note}" for note in notes],
        "",
        "### Targets",
        "",
        *verdicts(analyses),
        "",
        "### Streams",
        "",
        *streams_table(analyses),
        "",
        "### Latency (first byte added: the client's time to first byte minus the upstream's "
        "own; event delay: arrival at the client minus the upstream's write)",
        "",
        *latency_table(analyses),
        "",
        "### Router memory and CPU",
        "",
        *resources_table(analyses),
        "",
        "### Where the CPU went (share of one core over the run's window)",
        "",
        *cpu_table(analyses),
        "",
        "### More workers",
        "",
        *gains(analyses),
        "",
        "### Problems",
        "",
        *([f"- ⚠ {problem}" for problem in found] or ["- none: every stream came whole"]),
    ]
    return "\n".join(parts) + "\n"
