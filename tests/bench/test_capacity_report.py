"""The capacity scenario's figures and report, from made-up runs."""

from __future__ import annotations

import dataclasses

import pytest

import capacity
import capacity_report as cr
from footprint import Footprint
from streamers import Outcome
from upstream import Timing

IDLE = cr.CpuUse(router=0.0, upstream=0.0, clients=0.0, harness=0.0, machine=0.0)


def stream(
    name: str, started: float, delay: float, *, first_byte: float = 0.0, error: str = ""
) -> tuple[Outcome, Timing]:
    """A stream of 6 events, the upstream writing them 0.1 s apart from ``started + 0.1`` (the
    opening three at once), each arriving ``delay`` later; the first byte ``first_byte`` after
    the opening write."""
    sent = [started + 0.1] * 3 + [started + 0.2, started + 0.3, started + 0.4]
    outcome = Outcome(
        name,
        6,
        started,
        status=200,
        first_byte=started + 0.1 + first_byte,
        arrivals=[at + delay for at in sent],
        error=error,
    )
    return outcome, Timing(started + 0.05, sent, True)


def target_run(
    label: str, workers: int, streams: list[tuple[Outcome, Timing]], **more: object
) -> cr.TargetRun:
    return cr.TargetRun(
        label=label,
        workers=workers,
        streams=len(streams),
        outcomes=[outcome for outcome, _ in streams],
        timings={outcome.stream_id: timing for outcome, timing in streams},
        window_s=2.0,
        cpu=IDLE,
        cores=2,
        **more,  # type: ignore[arg-type]
    )


def test_first_byte_added_is_the_clients_ttfb_minus_the_upstreams_own() -> None:
    outcome, timing = stream("a", 10.0, 0.001, first_byte=0.3)
    # client: 10.0 -> 10.4; upstream: received 10.05, first write 10.1
    assert cr.first_byte_added(outcome, timing) == pytest.approx(0.4 - 0.05)


def test_event_delays_leave_out_the_opening_write() -> None:
    outcome, timing = stream("a", 10.0, 0.002)
    assert cr.event_delays(outcome, timing) == pytest.approx([0.002] * 3)


def test_analysis_counts_errors_untimed_and_lost_streams() -> None:
    whole = stream("ok", 1.0, 0.001)
    cut = stream("cut", 1.0, 0.001, error="cut: 4 of 6 events, no message_stop")
    untimed = stream("untimed", 1.0, 0.001)
    run = target_run("router, 1 worker", 1, [whole, cut, untimed])
    run.timings.pop("untimed")
    run = dataclasses.replace(run, streams=4)
    analysis = cr.analyze(run)
    assert analysis.completed == 2
    assert analysis.errors == {"cut": 1, "untimed": 1, "lost": 1}
    assert analysis.first_error["cut"].startswith("cut: 4 of 6")
    assert analysis.events == 18
    assert analysis.event_delay is not None and analysis.event_delay.count == 6


def test_busiest_second() -> None:
    assert cr.busiest_second([]) == 0
    assert cr.busiest_second([5.0, 5.5, 5.9, 6.1, 7.2]) == 3


def test_rss_per_open_stream_is_taken_at_the_most_open_streams() -> None:
    samples = [cr.Sample(1.0, 50, 150_000, 120), cr.Sample(2.0, 100, 200_000, 220)]
    run = target_run(
        "router, 1 worker",
        1,
        [stream("a", 1.0, 0.001)],
        before=Footprint(1, 100_000, 20),
        samples=samples,
    )
    analysis = cr.analyze(run)
    assert analysis.peak == samples[1]
    assert analysis.rss_per_stream_kb == pytest.approx(1000.0)


def test_targets_use_the_added_p99_over_direct() -> None:
    direct = target_run("direct", 0, [stream(f"d{i}", 1.0, 0.005) for i in range(3)])
    slow = target_run("router, 1 worker", 1, [stream(f"a{i}", 1.0, 0.030) for i in range(3)])
    late = target_run(
        "router, 2 workers", 2, [stream(f"b{i}", 1.0, 0.010, first_byte=1.5) for i in range(3)]
    )
    table = cr.verdicts([cr.analyze(run) for run in (direct, slow, late)])
    assert table[2] == (
        "| router, 1 worker | 0 errors: met | max +50.0 ms: met | +25.0 ms: **missed** |"
    )
    assert table[3] == (
        "| router, 2 workers | 0 errors: met | max +1,550 ms: **missed** | +5.00 ms: met |"
    )


def test_gain_of_two_workers_over_one() -> None:
    one = target_run("one", 1, [stream("a", 1.0, 0.001)])
    two = target_run("two", 2, [stream("b", 1.0, 0.001), stream("c", 1.0, 0.001)])
    [line] = cr.gains([cr.analyze(one), cr.analyze(two)])
    assert line.startswith("- two over one: 2.00x the events delivered per second (6 vs 3)")
    assert cr.gains([cr.analyze(one)]) == [
        "- not measured: needs a run with one worker and one with more"
    ]


def test_render_has_every_section_and_the_problems() -> None:
    runs = [
        target_run("direct", 0, [stream("d", 1.0, 0.001)]),
        target_run("router, 1 worker", 1, [stream("r", 1.0, 0.001, error="HTTP 503: busy")]),
    ]
    text = cr.render([("CPU", "2 x test")], ["a note"], runs, ["router logged 1 error(s)"])
    for heading in (
        "### Machine and command",
        "### Targets",
        "### Streams",
        "### Latency",
        "### Router memory and CPU",
        "### Where the CPU went",
        "### More workers",
        "### Problems",
    ):
        assert heading in text
    assert "- a note" in text
    assert "- ⚠ router logged 1 error(s)" in text
    assert "- ⚠ router, 1 worker: 1 x HTTP 503; first: `HTTP 503: busy`" in text


def test_command_line_ranges_and_worker_settings() -> None:
    args = capacity.parse_args(["--events", "10", "--interval-ms", "50-60", "--workers", "1,auto"])
    assert (args.events, args.interval_ms, args.workers) == ((10, 10), (50, 60), ["1", "auto"])
    assert args.streams == 5000 and args.ramp == 5.0
    for bad in (["--events", "5-2"], ["--events", "1"], ["--workers", "two"], ["--streams", "0"]):
        with pytest.raises(SystemExit):
            capacity.parse_args(bad)
