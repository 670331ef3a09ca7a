"""Python's cycle collector, run so that long-lived objects do not stall the event loop.

CPython collects its oldest generation once the objects promoted into it since the last full
collection reach a quarter of those it holds, and a full collection walks every tracked object.
A router relaying thousands of streams promotes each stream's objects (about 85) while the stream
lives, so with streams coming and going full collections recur every few seconds however steady
the load, each stopping the loop for ~0.8 µs per tracked object on our 2-core machine: 200 ms
with 3,000 streams open (docs/benchmarks.md, issue 12). They find little: a stream's objects are
freed by reference counting when it ends (after 1,000 streams, under 2,000 objects in cycles were
left in the whole heap), but the SQL statements the store builds for its background writes leave
cycles behind (tuples, dicts and SQLAlchemy's clause objects): frozen and never collected, they
raised the RSS by ~0.2 MB a minute at 20 requests a second.

So a worker takes the oldest generation out of the automatic schedule and, as each collection of
the middle generation ends (the young generations are then empty and what outlived them has just
been promoted), freezes everything (``gc.freeze``: kept out of every later collection, still freed
by reference counting when let go). The young collections run as often as before, the middle one
after every second young one (not every tenth), so it walks a fifth as many objects at a time
(~10 ms at most with 5,000 streams open, down from ~25 ms). Garbage in cycles among frozen objects
outlives its references, so a full collection (unfreeze, collect, freeze again) still comes:

- when the interpreter's small-object memory (``sys.getallocatedblocks``, counted in ~70 µs) has
  grown to ``growth`` times what the last full collection left and by ``min_growth`` blocks
  (~200 MB: a block and its share of the rest come to ~100 bytes; 5,000 open streams hold ~1.5
  million), as Go's collector paces itself by the heap's growth; a steady load of streams,
  however many come and go, does not bring one;
- and every ``interval_s`` (5 minutes) unless memory is within ``settled`` (1%) of what the
  last one left: that reclaims the store's cycles before they add up, for a pause every five
  minutes (~60 ms at start-up's size, ~400 ms with 5,000 streams open).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from dataclasses import dataclass, field

__all__ = ["TICK_S", "Collector"]

log = logging.getLogger(__name__)

# How often ``run`` looks whether memory has grown enough for a full collection.
TICK_S = 0.5
# Effectively never: the oldest generation's automatic collections are replaced by ``tick``.
_NEVER = 1 << 30


@dataclass
class Collector:
    """One process's collection policy: ``start`` when start-up is done, then ``tick`` often
    (``run`` does both), ``stop`` at the end (the interpreter's own schedule again)."""

    growth: float = 2.0
    min_growth: int = 2_000_000
    interval_s: float = 300.0
    settled: float = 0.01
    full_collections: int = 0
    # The memory blocks the last full collection left, and when it ended.
    baseline: int = 0
    collected_at: float = 0.0
    _thresholds: tuple[int, int, int] = field(default=(700, 10, 10), repr=False)

    async def run(self, every_s: float = TICK_S) -> None:
        """Start, tick every ``every_s`` until cancelled, stop."""
        self.start()
        try:
            while True:
                await asyncio.sleep(every_s)
                self.tick()
        finally:
            self.stop()

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self._thresholds[0], 1, _NEVER)
        self.full()
        gc.callbacks.append(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        # No collection may start from here; moving lists between generations may.
        if phase == "stop" and info["generation"] == 1:
            gc.freeze()

    def tick(self) -> None:
        """A full collection when memory has grown past its bound."""
        blocks = _blocks()
        grown = blocks - self.baseline
        if blocks > self.baseline * self.growth and grown > self.min_growth:
            self.full()
        elif time.monotonic() - self.collected_at >= self.interval_s:
            if grown > self.baseline * self.settled:
                self.full()
            else:
                self.collected_at = time.monotonic()  # nothing worth a pause: look again later

    def full(self) -> None:
        before = _blocks()
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        took_s = time.perf_counter() - started
        self.baseline = _blocks()
        self.collected_at = time.monotonic()
        self.full_collections += 1
        if self.full_collections > 1:  # the first is start-up's
            log.info(
                "full garbage collection: %d objects in cycles freed, memory blocks %d -> %d, "
                "%.0f ms",
                found,
                before,
                self.baseline,
                took_s * 1000,
            )

    def stop(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        gc.unfreeze()
        gc.set_threshold(*self._thresholds)


def _blocks() -> int:
    return sys.getallocatedblocks()
