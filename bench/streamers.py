"""Clients holding many paced streams open at once: the load of bench/capacity.py, and the
stream half of bench/soak.py.

A stream is one ``POST /v1/messages`` with the Claude Code-shaped ~90 KB body (bench/bodies.py)
and headers asking the fake upstream for a paced answer (bench/upstream.py). The client notes, on
the machine-wide monotonic clock, when it sent the request, when the first byte of the answer's
body came and when each event was complete, and whether the stream ended with ``message_stop``
after every event it was promised. A client process (``client_process``) runs its share of the
streams on one event loop (uvloop) with one aiohttp session and no connection limit.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

import bodies
from link_assistant_router.garbage import Collector
from servers import raise_open_files_limit
from upstream import EVENTS_HEADER, INTERVAL_HEADER, PACED_EXTRA_EVENTS, STREAM_HEADER

_CONNECT_TIMEOUT_S = 30.0
_READ_TIMEOUT_S = 60.0  # far longer than any planned gap between events
_ERROR_TEXT = 160


@dataclass(frozen=True)
class Plan:
    """One stream: its id, when it starts (seconds after the common start) and its pace."""

    stream_id: str
    offset_s: float
    interval_ms: int
    writes: int

    @property
    def duration_s(self) -> float:
        """From the upstream's first write to its last."""
        return self.interval_ms * (self.writes - 1) / 1000

    @property
    def events(self) -> int:
        """The SSE events the answer holds."""
        return self.writes + PACED_EXTRA_EVENTS

    def pace_headers(self, with_id: bool = True) -> dict[str, str]:
        """The headers asking the fake upstream for this pace (and to time it, ``with_id``)."""
        found = {INTERVAL_HEADER: str(self.interval_ms), EVENTS_HEADER: str(self.writes)}
        if with_id:
            found[STREAM_HEADER] = self.stream_id
        return found


def plan_streams(
    count: int,
    prefix: str,
    seed: int,
    writes: tuple[int, int],
    interval_ms: tuple[int, int],
    ramp_s: float,
) -> list[Plan]:
    """``count`` streams started evenly over ``ramp_s``, all open at once at the end of the ramp
    and ending spread over the time after it, with paces within the inclusive ranges.

    Each stream's end is drawn (uniformly, from ``seed``) between the end of the ramp (or its
    shortest possible length after its start, if later) and its longest possible length after
    its start; its pace is then one the ranges allow that ends it there (writes drawn, the
    interval to fit). Ends spread like this, a busy second holds about as many ends as starts:
    drawing the paces first and starting the longest first (this function's first way) ended
    three quarters of 5,000 streams within two seconds, a burst of work no real load has and
    beyond what one worker relays (docs/benchmarks.md, issue 12). When the longest stream is
    shorter than the ramp, those started early end before it does. The same seed gives every
    target the same streams (``prefix`` names them apart)."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible load, not a secret)
    fewest, most = writes
    slowest, fastest = interval_ms[1], interval_ms[0]
    shortest_s = fastest * (fewest - 1) / 1000
    longest_s = slowest * (most - 1) / 1000
    plans = []
    for number in range(count):
        offset = ramp_s * number / count
        latest = offset + longest_s
        earliest = min(max(ramp_s, offset + shortest_s), latest)
        duration_ms = (rng.uniform(earliest, latest) - offset) * 1000
        # writes such that the interval they need is within its range
        low = max(fewest, math.ceil(duration_ms / slowest) + 1)
        high = min(most, max(low, math.floor(duration_ms / fastest) + 1))
        count_writes = rng.randint(low, high)
        interval = min(slowest, max(fastest, math.ceil(duration_ms / (count_writes - 1))))
        plans.append(Plan(f"{prefix}-{number:05d}", offset, interval, count_writes))
    return plans


def planned_peak(plans: Sequence[Plan]) -> int:
    """The most of ``plans`` under way at one moment, if nothing is late (a stream is under way
    from its offset until its last write)."""
    edges = sorted(
        [(plan.offset_s, 1) for plan in plans]
        + [(plan.offset_s + plan.duration_s, -1) for plan in plans]
    )  # at a tie, an end (-1) sorts before a start
    peak = current = 0
    for _at, change in edges:
        current += change
        peak = max(peak, current)
    return peak


def busiest_end(plans: Sequence[Plan]) -> int:
    """The most of ``plans`` that end within one second (counted in whole seconds)."""
    ends = Counter(int(plan.offset_s + plan.duration_s) for plan in plans)
    return max(ends.values(), default=0)


def offered_rate(plans: Sequence[Plan]) -> float:
    """Writes per second the upstream makes while all of ``plans`` are under way."""
    return sum(1000 / plan.interval_ms for plan in plans)


class EventCounter:
    """Counts the SSE events completed (by their blank line) in a stream's chunks, however the
    chunks split them, and keeps the last complete one. Comments (``: ...``, such as a keep-alive
    a proxy may add) are not events: the count stays the upstream's."""

    def __init__(self) -> None:
        self._rest = b""
        self.last = b""

    def feed(self, chunk: bytes) -> int:
        """The events ``chunk`` completes."""
        data = self._rest + chunk if self._rest else chunk
        if b"\n\n" not in data:
            self._rest = data
            return 0
        parts = data.split(b"\n\n")
        self._rest = parts[-1]
        events = [part for part in parts[:-1] if not part.startswith(b":")]
        if events:
            self.last = events[-1]
        return len(events)

    @property
    def ended(self) -> bool:
        """Whether the last complete event is ``message_stop``."""
        return self.last.startswith(b"event: message_stop")


@dataclass
class Outcome:
    """One stream as its client saw it (``time.monotonic()`` instants). ``error`` is empty for
    a stream that came whole; otherwise it starts with its kind (``HTTP 503``, ``cut``,
    ``timeout``, an exception's name), then ``": "`` and details."""

    stream_id: str
    expected: int
    started: float
    status: int = 0
    first_byte: float | None = None
    arrivals: list[float] = field(default_factory=list)
    error: str = ""

    @property
    def kind(self) -> str:
        return self.error.split(":", 1)[0]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_TEXT else text[: _ERROR_TEXT - 1] + "…"


async def fetch_stream(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    outcome: Outcome,
    on_open: Callable[[int], None],
) -> Outcome:
    """POST ``body`` and read the streamed answer into ``outcome``; ``on_open(+1)`` once its
    status is 200, ``on_open(-1)`` when it ends. Never raises for the exchange's failures."""
    counter = EventCounter()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            outcome.status = response.status
            if response.status != 200:
                text = (await response.read())[:_ERROR_TEXT].decode(errors="replace")
                outcome.error = f"HTTP {response.status}: {_short(text)}"
                return outcome
            on_open(1)
            try:
                async for chunk in response.content.iter_any():
                    now = time.monotonic()
                    if outcome.first_byte is None:
                        outcome.first_byte = now
                    completed = counter.feed(chunk)
                    if completed:
                        outcome.arrivals.extend([now] * completed)
            finally:
                on_open(-1)
    except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
        outcome.error = f"timeout: {type(exc).__name__} after {len(outcome.arrivals)} events"
    except (aiohttp.ClientError, OSError) as exc:
        outcome.error = f"{type(exc).__name__}: {_short(str(exc))}"
    if not outcome.error and (len(outcome.arrivals) != outcome.expected or not counter.ended):
        outcome.error = (
            f"cut: {len(outcome.arrivals)} of {outcome.expected} events, "
            f"{'ending with message_stop' if counter.ended else 'no message_stop'}"
        )
    return outcome


def client_session(connections: int = 0, keep_alive: bool = False) -> aiohttp.ClientSession:
    """A session for many streams: ``connections`` at most (0: no limit), each closed after its
    request unless ``keep_alive``, bodies passed as they come."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=not keep_alive),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=_CONNECT_TIMEOUT_S, sock_read=_READ_TIMEOUT_S
        ),
        auto_decompress=False,
    )


def stream_headers(api_key: str) -> dict[str, str]:
    """The headers of a Claude Code-shaped streaming request, but for its pace."""
    return {
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": bodies.ANTHROPIC_BETA["sse"],
        "x-api-key": api_key,
    }


@dataclass(frozen=True)
class Share:
    """What one client process runs: its streams, against ``url``, each due at
    ``start_at + offset`` (``start_at`` comes once every client is ready) and cut off at
    ``start_at + deadline_s``."""

    url: str
    api_key: str
    body_path: str
    plans: tuple[Plan, ...]
    deadline_s: float


@dataclass(frozen=True)
class Report:
    """A client process's streams and the CPU time it spent on them (from the start)."""

    outcomes: list[Outcome]
    cpu_s: float


async def _scheduled(
    session: aiohttp.ClientSession,
    share: Share,
    plan: Plan,
    body: bytes,
    start_at: float,
    on_open: Callable[[int], None],
) -> Outcome:
    await asyncio.sleep(start_at + plan.offset_s - time.monotonic())
    headers = stream_headers(share.api_key) | plan.pace_headers()
    outcome = Outcome(plan.stream_id, plan.events, time.monotonic())
    try:
        async with asyncio.timeout(start_at + share.deadline_s - time.monotonic()):
            return await fetch_stream(session, share.url, headers, body, outcome, on_open)
    except TimeoutError:
        outcome.error = f"timeout: not done by the run's deadline, {len(outcome.arrivals)} events"
        return outcome


async def _run_share(
    share: Share, body: bytes, start_at: float, on_open: Callable[[int], None]
) -> Report:
    # Collected as the router's workers are, so that the clients' own pauses do not read as
    # the router's delays.
    collecting = asyncio.create_task(Collector().run())
    async with client_session() as session:
        cpu_before = time.process_time()
        tasks = [
            asyncio.create_task(_scheduled(session, share, plan, body, start_at, on_open))
            for plan in share.plans
        ]
        outcomes = list(await asyncio.gather(*tasks))
    collecting.cancel()
    return Report(outcomes, time.process_time() - cpu_before)


def client_process(share: Share, opened: Any, slot: int, channel: Connection) -> None:
    """A client process: say "ready", wait for the common start (a ``time.monotonic()``
    instant), run the share, send back its ``Report``. ``opened[slot]`` (shared memory) holds
    how many of its streams are open, for the parent to sample."""
    raise_open_files_limit()

    def count(change: int) -> None:
        opened[slot] += change

    body = Path(share.body_path).read_bytes()
    channel.send("ready")
    start_at = channel.recv()
    channel.send(uvloop.run(_run_share(share, body, start_at, count)))
    channel.close()
