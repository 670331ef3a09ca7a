"""The soak's verdict on RSS and open files, and its report."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import soak
import soak_report as sr


def samples(rss_mb: Sequence[float], files: Sequence[int] | None = None) -> list[sr.Sample]:
    files = files if files is not None else [100] * len(rss_mb)
    return [
        sr.Sample(10.0 * i, int(mb * 1024), count, 200 * i, 0, 20)
        for i, (mb, count) in enumerate(zip(rss_mb, files, strict=True))
    ]


def test_the_first_third_is_the_warm_up() -> None:
    found = sr.judged(samples([1.0] * 9))
    assert [s.at_s for s in found] == [30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    assert len(sr.judged(samples([1.0] * 7))) == 5


def test_a_flat_series_after_a_warm_up_is_flat() -> None:
    rss, files = sr.trends(samples([50, 90, 100, 101, 99, 100, 100, 101, 100], [10, 80] + [90] * 7))
    assert rss.flat is True
    assert (rss.start, rss.judged_from, rss.end, rss.low, rss.high) == (50, 101, 100, 99, 101)
    assert rss.tolerance == pytest.approx(0.05 * 100.22, rel=1e-3)
    assert files.flat is True
    assert files.tolerance == 10


def test_a_steady_rise_is_caught() -> None:
    rss, files = sr.trends(samples([100 + i for i in range(12)], [100 + 3 * i for i in range(12)]))
    assert rss.per_hour == pytest.approx(360.0)  # 1 MB per 10 s
    assert rss.growth == pytest.approx(7.0)
    assert rss.tolerance == pytest.approx(5.375)  # 5% of the judged mean, 107.5 MB
    assert rss.flat is False
    assert files.growth == pytest.approx(21.0)
    assert files.flat is False
    assert sr.problems([], (rss, files), []) == [
        "RSS rises after the warm-up",
        "open files rises after the warm-up",
    ]


def test_too_few_samples_are_not_judged() -> None:
    rss, _ = sr.trends(samples([100, 100, 100]))
    assert rss.flat is None


def test_thinned_keeps_the_first_and_last() -> None:
    many = samples([1.0] * 100)
    kept = sr.thinned(many, rows=5)
    assert [s.at_s for s in kept] == [0.0, 250.0, 500.0, 740.0, 990.0]
    assert sr.thinned(many[:3]) == many[:3]


def test_traffic_counts_errors_by_kind() -> None:
    found = sr.Traffic.of("json", [0.001, 0.002], ["HTTP 503: busy", "HTTP 503: again", "cut: 3"])
    assert found.requests == 5
    assert found.errors == {"HTTP 503": 2, "cut": 1}
    assert found.first_error["HTTP 503"] == "HTTP 503: busy"
    assert found.latency is not None and found.latency.max == 0.002


def test_render_has_every_section() -> None:
    traffic = [sr.Traffic.of("json", [0.002], []), sr.Traffic.of("stream", [0.003], ["cut: 2"])]
    series = samples([100.0] * 6)
    after = sr.Sample(70.0, 99 * 1024, 40, 1200, 1, 0)
    text = sr.render([("CPU", "2 x test")], ["a note"], 1.0, traffic, series, after, [])
    for heading in ("### Machine and command", "### Traffic", "### Router memory", "### Samples"):
        assert heading in text
    assert "| 1.2 (idle) | 99.0 MB | 40 | 1,200 | 1 | 0 |" in text
    assert "- ⚠ stream: 1 x cut; first: `cut: 2`" in text


def test_soak_options() -> None:
    args = soak.parse_args(["--minutes", "1", "--events", "3-4"])
    assert (args.minutes, args.events, args.rate, args.concurrency) == (1.0, (3, 4), 20.0, 64)
    for bad in (["--minutes", "0"], ["--stream-share", "2"], ["--router-env", "X"]):
        with pytest.raises(SystemExit):
            soak.parse_args(bad)
