"""Small statistics for the load scenarios (capacity, soak): percentiles and a fitted slope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` (0-1) percentile by nearest rank: the smallest value with at least that
    share of the values at or below it (so p99 of 100 values is the 99th, and p100 the
    largest); None for no values. ``values`` need not be sorted."""
    if not values:
        return None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within 0 and 1, not {share}")
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Distribution:
    """The p50, p99 and largest of some values."""

    count: int
    p50: float
    p99: float
    max: float


def distribution(values: Sequence[float]) -> Distribution | None:
    if not values:
        return None
    ordered = sorted(values)
    p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
    assert p50 is not None and p99 is not None
    return Distribution(len(ordered), p50, p99, ordered[-1])


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The least-squares slope of ``ys`` over ``xs`` (units of y per unit of x); None for fewer
    than two points or when every x is the same."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    count = len(xs)
    if count < 2:
        return None
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
