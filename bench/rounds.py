"""The rounds of a run, and what they add up to.

Each case and connection count is measured in rounds: every target once per round, in turn, so a
drift in the host's speed weighs on all targets alike. A ratio between two targets is taken
within each round (their runs seconds apart), then summed up over the rounds by its median and
its range (min-max); so is each target's own CPU per request. Pure: data in, numbers out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wrk import WrkResult

# Above this share of a core used by other processes during a run, its numbers are suspect.
NOISY_OTHER_CPU = 0.25
ROUTER = "router"


def is_router(target: str) -> bool:
    """The current router (``router``) or one built from another revision (``router@<sha>``)."""
    return target == ROUTER or target.startswith(ROUTER + "@")


@dataclass(frozen=True)
class Measurement:
    """One wrk run against one target in one round, with the CPU the target spent per request."""

    case: str
    connections: int
    target: str
    result: WrkResult | None
    cpu_us_per_request: float | None
    other_cpu: float = 0.0  # CPU used by everything else on the machine, in cores
    failure: str = ""
    round: int = 1  # counted from 1

    @property
    def problems(self) -> list[str]:
        if self.result is None:
            return [f"run failed: {self.failure}"]
        found = self.result.problems
        if self.other_cpu > NOISY_OTHER_CPU:
            found.append(
                f"other processes or steal used {self.other_cpu:.0%} of a core during the run"
            )
        return found

    @property
    def cpu(self) -> float | None:
        """CPU µs per request, or None when the run failed."""
        return None if self.result is None else self.cpu_us_per_request

    @property
    def p50_us(self) -> float | None:
        return None if self.result is None else self.result.p50_us


@dataclass(frozen=True)
class Spread:
    """The median of some values and their range."""

    median: float
    low: float
    high: float
    count: int

    @property
    def relative(self) -> float:
        """The range as a share of the median (0 when the median is 0)."""
        return (self.high - self.low) / abs(self.median) if self.median else 0.0


def spread(values: Iterable[float | None]) -> Spread | None:
    """The median and min-max of the values that are there (None: a failed run); or None."""
    present = sorted(value for value in values if value is not None)
    if not present:
        return None
    return Spread(statistics.median(present), present[0], present[-1], len(present))


def round_order(targets: Sequence[str], index: int) -> list[str]:
    """The order of the targets in round ``index`` (from 0): as given, reversed every other
    round, so a steady drift over a round favours no target (ABBA)."""
    return list(targets) if index % 2 == 0 else list(reversed(targets))


def cells(measurements: Iterable[Measurement]) -> list[tuple[str, int]]:
    """The (case, connections) pairs measured, in the order they were run."""
    return list(dict.fromkeys((m.case, m.connections) for m in measurements))


def targets_of(measurements: Iterable[Measurement]) -> list[str]:
    """The targets measured, in the order of their first run."""
    return list(dict.fromkeys(m.target for m in measurements))


def round_count(measurements: Iterable[Measurement]) -> int:
    return max((m.round for m in measurements), default=0)


def _by_round(
    measurements: Iterable[Measurement], case: str, connections: int, target: str
) -> dict[int, Measurement]:
    return {
        m.round: m
        for m in measurements
        if (m.case, m.connections, m.target) == (case, connections, target)
    }


@dataclass(frozen=True)
class Summary:
    """One target in one case and connection count, over its rounds."""

    case: str
    connections: int
    target: str
    runs: int
    cpu_us: Spread | None
    requests_per_s: Spread | None
    p50_us: Spread | None
    p99_us: Spread | None
    other_cpu: float  # the most seen in any of its runs
    problems: tuple[str, ...]
    problem_rounds: tuple[int, ...] = ()


def summarize(measurements: Sequence[Measurement]) -> list[Summary]:
    """One summary per case, connection count and target, in the order they were run."""
    found = []
    for case, connections in cells(measurements):
        for target in targets_of(m for m in measurements if m.case == case):
            runs = sorted(
                _by_round(measurements, case, connections, target).values(),
                key=lambda m: m.round,
            )
            if not runs:
                continue
            results = [m.result for m in runs if m.result is not None]
            found.append(
                Summary(
                    case,
                    connections,
                    target,
                    len(runs),
                    spread(m.cpu for m in runs),
                    spread(r.requests_per_s for r in results),
                    spread(r.p50_us for r in results),
                    spread(r.p99_us for r in results),
                    max(m.other_cpu for m in runs),
                    tuple(f"round {m.round}: {problem}" for m in runs for problem in m.problems),
                    tuple(m.round for m in runs if m.problems),
                )
            )
    return found


@dataclass(frozen=True)
class Series:
    """One number per round (None where a run failed) for one case and connection count."""

    case: str
    connections: int
    label: str
    values: tuple[float | None, ...]

    @property
    def spread(self) -> Spread | None:
        return spread(self.values)


def _series(
    measurements: Sequence[Measurement],
    label: str,
    pair: tuple[str, str],
    value: Callable[[Measurement], float | None],
    combine: Callable[[float, float], float | None],
) -> list[Series]:
    rounds = round_count(measurements)
    found = []
    for case, connections in cells(measurements):
        first, second = (_by_round(measurements, case, connections, name) for name in pair)
        if not first or not second:
            continue
        values = []
        for number in range(1, rounds + 1):
            a, b = first.get(number), second.get(number)
            x = None if a is None else value(a)
            y = None if b is None else value(b)
            values.append(None if x is None or y is None else combine(x, y))
        found.append(Series(case, connections, label, tuple(values)))
    return found


def _ratio(x: float, y: float) -> float | None:
    return x / y if y else None


def _difference(x: float, y: float) -> float:
    return x - y


def cpu_ratios(measurements: Sequence[Measurement], target: str, against: str) -> list[Series]:
    """``target``'s CPU per request divided by ``against``'s, round by round, wherever both
    were measured."""
    label = f"{target} ÷ {against}"
    return _series(measurements, label, (target, against), lambda m: m.cpu, _ratio)


def added_p50(
    measurements: Sequence[Measurement], target: str, against: str = "direct"
) -> list[Series]:
    """``target``'s p50 latency minus ``against``'s (µs), round by round."""
    label = f"{target} - {against}"
    return _series(measurements, label, (target, against), lambda m: m.p50_us, _difference)
