"""The fake upstream's paced streams."""

from __future__ import annotations

import pytest

from upstream import EVENTS_HEADER, INTERVAL_HEADER, OPENING_EVENTS, pace_of, paced_writes


def test_paced_writes_open_and_close_together_with_one_delta_between() -> None:
    writes = paced_writes(4)
    assert len(writes) == 4
    assert [w.count(b"\n\n") for w in writes] == [OPENING_EVENTS, 1, 1, 3]
    assert writes[0].startswith(b"event: message_start\n")
    assert b"event: content_block_delta\n" in writes[1]
    assert writes[-1].endswith(b"}\n\n") and b"event: message_stop\n" in writes[-1]
    with pytest.raises(ValueError):
        paced_writes(1)


def test_pace_is_read_from_the_headers() -> None:
    assert pace_of({}) is None
    assert pace_of({INTERVAL_HEADER: "250"}) is None
    assert pace_of({INTERVAL_HEADER: "250", EVENTS_HEADER: "30"}) == (0.25, 30)
    for bad in (
        {INTERVAL_HEADER: "-1", EVENTS_HEADER: "3"},
        {INTERVAL_HEADER: "1", EVENTS_HEADER: "1"},
    ):
        with pytest.raises(ValueError):
            pace_of(bad)
    with pytest.raises(ValueError):
        pace_of({INTERVAL_HEADER: "x", EVENTS_HEADER: "3"})
