"""The collection policy: survivors frozen out of later collections, full collections paced by
memory growth, the interpreter's schedule back at the end."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator

import pytest

from link_assistant_router import garbage
from link_assistant_router.garbage import Collector


class Node:
    """A tracked object that can sit in a cycle and be watched by a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[weakref.ref[Node], list[Node]]:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first), [first, second]


def tracked(thing: object) -> bool:
    """In a generation a collection walks (frozen objects are in none of them)."""
    return any(thing is other for other in gc.get_objects())


@pytest.fixture
def collector() -> Iterator[Collector]:
    thresholds = gc.get_threshold()
    found = Collector()
    found.start()
    try:
        yield found
    finally:
        found.stop()
        assert gc.get_threshold() == thresholds


def test_start_freezes_what_exists_and_leaves_the_oldest_generation_to_the_policy(
    collector: Collector,
) -> None:
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[2] > 1_000_000
    assert gc.get_threshold()[1] == 1
    assert collector.full_collections == 1
    assert collector.baseline > 0


def test_what_outlives_a_middle_collection_is_frozen_and_still_freed_when_let_go(
    collector: Collector,
) -> None:
    kept = Node()
    assert tracked(kept)
    gc.collect(1)  # as the interpreter's own schedule runs it
    assert not tracked(kept)
    watch = weakref.ref(kept)
    del kept
    assert watch() is None  # reference counting frees frozen objects as any other


def test_a_cycle_frozen_before_it_became_garbage_waits_for_a_full_collection(
    collector: Collector,
) -> None:
    watch, nodes = cycle()
    gc.collect(1)
    del nodes
    gc.collect(1)
    assert watch() is not None  # out of the young collections' reach
    collector.tick()  # memory has not grown: no pause
    assert watch() is not None
    collector.min_growth = 0
    collector.growth = 0.0
    collector.tick()
    assert watch() is None
    assert collector.full_collections == 2


def test_a_young_cycle_is_collected_as_before(collector: Collector) -> None:
    watch, nodes = cycle()
    del nodes
    gc.collect(1)
    assert watch() is None


def test_memory_growth_paces_full_collections(
    collector: Collector, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocks = {"now": collector.baseline}
    monkeypatch.setattr(garbage, "_blocks", lambda: blocks["now"])
    collector.baseline = 1_000_000
    collector.min_growth = 500_000
    blocks["now"] = 1_900_000  # grown by more than min_growth, not yet doubled
    collector.tick()
    assert collector.full_collections == 1
    assert not caplog.records
    blocks["now"] = 2_100_000
    with caplog.at_level(logging.INFO, logger="link_assistant_router.garbage"):
        collector.tick()
    assert collector.full_collections == 2
    assert collector.baseline == 2_100_000
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith("full garbage collection:")
    assert "memory blocks 2100000 -> 2100000" in line and line.endswith(" ms")


def test_a_slow_growth_is_collected_after_the_interval(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = {"now": 1_000_000}
    monkeypatch.setattr(garbage, "_blocks", lambda: blocks["now"])
    collector.baseline = 1_000_000
    blocks["now"] = 1_050_000
    collector.tick()  # grown, but the interval has not passed
    assert collector.full_collections == 1
    collector.interval_s = 0.0
    blocks["now"] = 1_008_000  # within 1% of what the last one left: not worth a pause
    collector.tick()
    assert collector.full_collections == 1
    blocks["now"] = 1_012_000
    collector.tick()
    assert collector.full_collections == 2


def test_stop_gives_the_interpreter_its_schedule_back() -> None:
    thresholds = gc.get_threshold()
    collector = Collector()
    collector.start()
    collector.stop()
    assert gc.get_threshold() == thresholds
    assert gc.get_freeze_count() == 0
    assert collector._collected not in gc.callbacks
    kept = Node()
    gc.collect(1)
    assert tracked(kept)  # no longer frozen by the callback


async def test_run_ticks_until_cancelled_then_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    thresholds = gc.get_threshold()
    collector = Collector()
    ticks: list[int] = []
    ticked_thrice = asyncio.Event()

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            ticked_thrice.set()

    monkeypatch.setattr(collector, "tick", tick)
    running = asyncio.create_task(collector.run(0.01))
    await asyncio.wait_for(ticked_thrice.wait(), 5)
    assert gc.get_threshold()[2] > 1_000_000
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert gc.get_threshold() == thresholds
