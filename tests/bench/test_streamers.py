"""The paced streams' plans, and counting SSE events however the chunks split them."""

from __future__ import annotations

from collections import Counter

import pytest

from streamers import EventCounter, Plan, busiest_end, offered_rate, plan_streams, planned_peak
from upstream import EVENTS_HEADER, INTERVAL_HEADER, STREAM_HEADER, paced_writes


def test_events_are_counted_across_chunk_boundaries() -> None:
    counter = EventCounter()
    assert counter.feed(b"event: ping\ndata: {}\n") == 0
    assert counter.feed(b"\nevent: message_stop\ndata: {") == 1
    assert not counter.ended
    assert counter.feed(b"}\n\n") == 1
    assert counter.ended


def test_comments_are_not_events() -> None:
    counter = EventCounter()
    assert counter.feed(b": keep-alive\n\nevent: ping\ndata: {}\n\n: again\n\n") == 1
    assert counter.last == b"event: ping\ndata: {}"


def test_a_chunk_may_complete_many_events() -> None:
    counter = EventCounter()
    stream = b"".join(paced_writes(5))
    assert counter.feed(stream) == 9
    assert counter.ended


def test_plans_are_reproducible_ramped_and_in_range() -> None:
    plans = plan_streams(100, "t", 7, (20, 40), (100, 500), 5.0)
    again = plan_streams(100, "u", 7, (20, 40), (100, 500), 5.0)
    assert [(p.interval_ms, p.writes) for p in plans] == [(p.interval_ms, p.writes) for p in again]
    assert plans[0].stream_id == "t-00000" and again[0].stream_id == "u-00000"
    assert [p.offset_s for p in plans[:3]] == [0.0, 0.05, 0.1]
    assert all(100 <= p.interval_ms <= 500 and 20 <= p.writes <= 40 for p in plans)
    assert plan_streams(100, "t", 8, (20, 40), (100, 500), 5.0) != plans


def test_all_are_open_at_the_end_of_the_ramp_and_end_spread_out() -> None:
    plans = plan_streams(5000, "t", 1, (20, 40), (500, 1500), 30.0)
    assert all(p.offset_s <= 30.0 <= p.offset_s + p.duration_s for p in plans)
    starts = Counter(int(p.offset_s) for p in plans)
    # about as many ends as starts in the busiest second (paces drawn first and the longest
    # started first put 1,969 ends in one second)
    assert busiest_end(plans) <= 1.5 * max(starts.values())
    assert len({(p.interval_ms, p.writes) for p in plans}) > 1000


def test_streams_shorter_than_the_ramp_end_as_soon_as_they_can() -> None:
    plans = plan_streams(300, "t", 1, (10, 10), (100, 500), 5.0)
    assert all(p.duration_s <= 4.5 for p in plans)
    assert planned_peak(plans) < 300


def test_a_plan_knows_its_events_duration_and_headers() -> None:
    plan = Plan("s-1", 0.0, 250, 21)
    assert plan.duration_s == pytest.approx(5.0)
    assert plan.events == 25 == len(b"".join(paced_writes(21)).split(b"\n\n")) - 1
    assert plan.pace_headers() == {
        INTERVAL_HEADER: "250",
        EVENTS_HEADER: "21",
        STREAM_HEADER: "s-1",
    }
    assert STREAM_HEADER not in plan.pace_headers(with_id=False)


def test_the_planned_peak_and_rate() -> None:
    plans = [Plan("a", 0.0, 1000, 3), Plan("b", 1.0, 500, 3), Plan("c", 2.0, 100, 2)]
    # a: 0-2 s, b: 1-2 s, c: 2-2.1 s; a and b end as c starts
    assert planned_peak(plans) == 2
    assert offered_rate(plans) == pytest.approx(1 + 2 + 10)
    assert planned_peak(plan_streams(500, "t", 1, (20, 40), (100, 500), 5.0)) == 500
