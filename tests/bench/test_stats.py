"""Percentiles and the fitted slope of the load scenarios."""

from __future__ import annotations

import pytest

from stats import distribution, percentile, slope


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 values, unsorted
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0


def test_percentile_of_few_values_and_of_none() -> None:
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([1.0, 2.0], 0.5) == 1.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_distribution_has_p50_p99_and_max() -> None:
    found = distribution([float(v) for v in range(1, 201)])
    assert found is not None
    assert (found.count, found.p50, found.p99, found.max) == (200, 100.0, 198.0, 200.0)
    assert distribution([]) is None


def test_slope_of_a_line_and_of_noise_around_a_level() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    assert slope(xs, [5.0, 7.0, 9.0, 11.0]) == pytest.approx(2.0)
    assert slope(xs, [10.0, 12.0, 8.0, 10.0]) == pytest.approx(-0.4)


def test_slope_needs_two_distinct_xs() -> None:
    assert slope([1.0], [1.0]) is None
    assert slope([2.0, 2.0], [1.0, 3.0]) is None
    with pytest.raises(ValueError):
        slope([1.0, 2.0], [1.0])
