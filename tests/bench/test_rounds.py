"""Summing up interleaved rounds: medians, ranges, ratios taken within each round."""

from __future__ import annotations

import pytest

from rounds import (
    Measurement,
    added_p50,
    cpu_ratios,
    is_router,
    round_order,
    spread,
    summarize,
)
from wrk import WrkResult


def run(
    target: str,
    round_no: int,
    cpu: float | None,
    *,
    case: str = "sse",
    connections: int = 16,
    p50_us: float = 1000.0,
    rps: float = 100.0,
    other_cpu: float = 0.0,
) -> Measurement:
    result = WrkResult(
        requests=1000, duration_s=10.0, requests_per_s=rps, p50_us=p50_us, p99_us=2 * p50_us
    )
    return Measurement(case, connections, target, result, cpu, other_cpu, round=round_no)


def failed(target: str, round_no: int) -> Measurement:
    return Measurement("sse", 16, target, None, None, failure="wrk died", round=round_no)


def test_spread_odd_count_is_the_middle_value() -> None:
    found = spread([3.0, 1.0, 2.0])
    assert found is not None
    assert (found.median, found.low, found.high, found.count) == (2.0, 1.0, 3.0, 3)


def test_spread_even_count_averages_the_middle_pair_and_skips_missing() -> None:
    found = spread([4.0, None, 1.0, 2.0, 3.0])
    assert found is not None
    assert (found.median, found.low, found.high, found.count) == (2.5, 1.0, 4.0, 4)
    assert found.relative == pytest.approx(3.0 / 2.5)


def test_spread_of_nothing_is_none() -> None:
    assert spread([]) is None
    assert spread([None, None]) is None


def test_round_order_reverses_every_other_round() -> None:
    targets = ["direct", "nginx", "aiohttp", "router"]
    assert round_order(targets, 0) == targets
    assert round_order(targets, 1) == list(reversed(targets))
    assert round_order(targets, 2) == targets


def test_router_targets() -> None:
    assert is_router("router")
    assert is_router("router@abc1234")
    assert not is_router("aiohttp")
    assert not is_router("routerx")


def test_ratios_are_taken_round_by_round() -> None:
    measurements = [
        run("aiohttp", 1, 200.0),
        run("router", 1, 300.0),
        run("router", 2, 330.0),
        run("aiohttp", 2, 300.0),
        run("aiohttp", 3, 100.0),
        run("router", 3, 200.0),
    ]
    [series] = cpu_ratios(measurements, "router", "aiohttp")
    assert (series.case, series.connections, series.label) == ("sse", 16, "router ÷ aiohttp")
    assert series.values == pytest.approx((1.5, 1.1, 2.0))
    found = series.spread
    assert found is not None
    assert (found.median, found.low, found.high) == pytest.approx((1.5, 1.1, 2.0))


def test_a_failed_run_leaves_its_round_out() -> None:
    measurements = [
        run("aiohttp", 1, 200.0),
        run("router", 1, 300.0),
        run("aiohttp", 2, 200.0),
        failed("router", 2),
    ]
    [series] = cpu_ratios(measurements, "router", "aiohttp")
    assert series.values == (1.5, None)
    assert series.spread is not None
    assert series.spread.count == 1


def test_ratios_only_where_both_targets_ran() -> None:
    measurements = [
        run("router", 1, 300.0, case="chat"),
        run("router", 1, 300.0),
        run("aiohttp", 1, 150.0),
    ]
    series = cpu_ratios(measurements, "router", "aiohttp")
    assert [(s.case, s.values) for s in series] == [("sse", (2.0,))]


def test_added_p50_is_a_difference_per_round() -> None:
    measurements = [
        run("direct", 1, 50.0, connections=1, p50_us=200.0),
        run("router", 1, 400.0, connections=1, p50_us=500.0),
        run("router", 2, 400.0, connections=1, p50_us=450.0),
        run("direct", 2, 50.0, connections=1, p50_us=250.0),
    ]
    [series] = added_p50(measurements, "router")
    assert series.label == "router - direct"
    assert series.values == pytest.approx((300.0, 200.0))


def test_summary_per_target_with_median_range_and_problems() -> None:
    measurements = [
        run("aiohttp", 1, 200.0, rps=1000.0),
        run("router", 1, 400.0, rps=500.0),
        run("router", 2, 440.0, rps=450.0, other_cpu=0.5),
        run("aiohttp", 2, 220.0, rps=900.0),
        run("router", 3, 410.0, rps=480.0),
        run("aiohttp", 3, 210.0, rps=950.0),
    ]
    aiohttp, router = summarize(measurements)
    assert (aiohttp.target, router.target) == ("aiohttp", "router")
    assert router.runs == 3
    assert router.cpu_us is not None and router.requests_per_s is not None
    assert (router.cpu_us.median, router.cpu_us.low, router.cpu_us.high) == (410.0, 400.0, 440.0)
    assert router.requests_per_s.median == 480.0
    assert router.other_cpu == 0.5
    assert router.problem_rounds == (2,)
    noisy = "round 2: other processes or steal used 50% of a core during the run"
    assert router.problems == (noisy,)
    assert aiohttp.problems == ()


def test_summary_of_a_target_whose_runs_all_failed() -> None:
    [summary] = summarize([failed("router", 1), failed("router", 2)])
    assert summary.cpu_us is None
    assert summary.p50_us is None
    assert summary.problem_rounds == (1, 2)
