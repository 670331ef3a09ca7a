"""An hour (``--minutes``) of steady mixed traffic through the router, on demand (issue 12's soak).

Starts the fake upstream (bench/upstream.py) and the router on 127.0.0.1, then sends requests at
a steady ``--rate`` per second, at most ``--concurrency`` at a time, over keep-alive connections:
a ``--stream-share`` of them Claude Code-shaped streams (~90 KB body, a paced answer of
``--events`` writes ``--interval-ms`` apart, bench/streamers.py), the rest small JSON calls.
Every ``--sample-s`` seconds it samples the router's process tree (RSS, open files) and counts
the requests and errors so far. It stops by itself after ``--minutes``, stops every process it
started, and prints a Markdown report saying whether RSS and open files were flat after the
warm-up (``--write`` puts it in docs/benchmarks.md between its own markers). The exit status is 1
when there were errors or a measure rose, 2 when a server did not start; SIGTERM or SIGINT end it
early (128 + the signal; the report is printed, never written).

    .venv/bin/python bench/soak.py [--minutes 60] [--rate 20] [--stream-share 0.5]
        [--concurrency 64] [--events 10-30] [--interval-ms 20-200] [--sample-s 10] [--seed 1]
        [--router-env NAME=VALUE] [--key-option FLAG] [--write] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

import bodies
import report
import servers
import soak_report
import streamers
from footprint import footprint
from options import DOCS, ROOT, command_line, router_notes, span, span_text

_DRAIN_S = 60.0  # the longest wait for requests in flight at the end
_SIGNAL_DRAIN_S = 5.0
_BEHIND_S = 1.0  # starts later than this behind the schedule are counted, then forgiven


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long (60)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (20)")
    parser.add_argument(
        "--stream-share", type=float, default=0.5, help="share of streams, 0-1 (0.5)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="at most in flight (64)")
    parser.add_argument("--events", type=span, default=(10, 30), help="writes per stream A-B")
    parser.add_argument("--interval-ms", type=span, default=(20, 200), help="ms between writes")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mix and the pace")
    parser.add_argument(
        "--router-env", action="append", default=[], metavar="NAME=VALUE", help="repeatable"
    )
    parser.add_argument(
        "--key-option", action="append", default=[], metavar="FLAG", help="for `tokens issue`"
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.concurrency < 1 or args.sample_s <= 0:
        parser.error("--minutes, --rate, --concurrency and --sample-s must be positive")
    if not 0 <= args.stream_share <= 1:
        parser.error("--stream-share is a share, 0 to 1")
    if args.events[0] < 2:
        parser.error("--events: a stream has at least 2 writes")
    if any("=" not in item for item in args.router_env):
        parser.error("--router-env takes NAME=VALUE")
    return args


@dataclass
class Tally:
    """What the clients saw so far."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"json": [], "stream": []})
    errors: dict[str, list[str]] = field(default_factory=lambda: {"json": [], "stream": []})
    in_flight: int = 0
    behind: int = 0
    unfinished: int = 0
    signal: str = ""  # the signal that ended the soak early, if one did

    @property
    def requests(self) -> int:
        return sum(map(len, self.latencies.values())) + self.error_count

    @property
    def error_count(self) -> int:
        return sum(map(len, self.errors.values()))


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str
    json_body: bytes
    stream_body: bytes


async def send_json(session: aiohttp.ClientSession, target: Target) -> tuple[float, str]:
    """One small Messages call: its time and "", or the error."""
    headers = {
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": target.api_key,
    }
    started = time.monotonic()
    try:
        async with session.post(target.url, data=target.json_body, headers=headers) as response:
            body = await response.read()
    except (aiohttp.ClientError, OSError) as exc:  # aiohttp's timeouts are OSErrors too
        return 0.0, f"{type(exc).__name__}: {exc}"
    if response.status != 200:
        return 0.0, f"HTTP {response.status}: {body[:160].decode(errors='replace')}"
    if b'"type":"message"' not in body:
        return 0.0, f"not a message: {body[:160].decode(errors='replace')}"
    return time.monotonic() - started, ""


async def send_stream(
    session: aiohttp.ClientSession, target: Target, plan: streamers.Plan
) -> tuple[float, str]:
    """One paced stream: its time to first byte and "", or the error."""
    outcome = streamers.Outcome(plan.stream_id, plan.events, time.monotonic())
    headers = streamers.stream_headers(target.api_key) | plan.pace_headers(with_id=False)
    await streamers.fetch_stream(
        session, target.url, headers, target.stream_body, outcome, lambda change: None
    )
    if outcome.error or outcome.first_byte is None:
        return 0.0, outcome.error or "no first byte"
    return outcome.first_byte - outcome.started, ""


async def one_request(
    session: aiohttp.ClientSession,
    target: Target,
    plan: streamers.Plan | None,
    tally: Tally,
) -> None:
    kind = "json" if plan is None else "stream"
    tally.in_flight += 1
    try:
        if plan is None:
            latency, error = await send_json(session, target)
        else:
            latency, error = await send_stream(session, target, plan)
    finally:
        tally.in_flight -= 1
    if error:
        tally.errors[kind].append(error)
    else:
        tally.latencies[kind].append(latency)


async def sample_every(
    router_pid: int,
    every_s: float,
    start: float,
    tally: Tally,
    samples: list[soak_report.Sample],
) -> None:
    """Sample the router now and every ``every_s`` (on a fixed schedule) until cancelled."""
    due = start
    while True:
        now = footprint(router_pid)
        samples.append(
            soak_report.Sample(
                time.monotonic() - start,
                now.rss_kb,
                now.open_files,
                tally.requests,
                tally.error_count,
                tally.in_flight,
            )
        )
        due += every_s
        print(
            f"{samples[-1].at_s / 60:5.1f} min  RSS {now.rss_kb / 1024:7.1f} MB  "
            f"open files {now.open_files:5}  requests {tally.requests:8,}  "
            f"errors {tally.error_count:,}",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(due - time.monotonic())


async def soak(
    args: argparse.Namespace, target: Target, router_pid: int
) -> tuple[Tally, list[soak_report.Sample], soak_report.Sample]:
    """The load and the samples, for ``args.minutes`` (or until SIGTERM or SIGINT); then the
    requests in flight are let finish (at most ``_DRAIN_S``, or a few seconds after a signal),
    the clients' connections closed, and the router sampled once more, idle."""
    rng = random.Random(args.seed)  # noqa: S311 (a reproducible mix, not a secret)
    tally, samples = Tally(), list[soak_report.Sample]()
    slots = asyncio.Semaphore(args.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stopped_by, signum, tally, stopping)

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        slots.release()

    async with streamers.client_session(args.concurrency, keep_alive=True) as session:
        start = time.monotonic()
        end = start + args.minutes * 60
        sampler = asyncio.create_task(
            sample_every(router_pid, args.sample_s, start, tally, samples)
        )
        due, number = start, 0
        while due < end and not await _stops_before(stopping, due):
            await slots.acquire()
            if time.monotonic() - due > _BEHIND_S:
                tally.behind += 1
                due = time.monotonic()
            plan = None
            if rng.random() < args.stream_share:
                interval, writes = rng.randint(*args.interval_ms), rng.randint(*args.events)
                plan = streamers.Plan(f"soak-{number}", 0.0, interval, writes)
            task = asyncio.create_task(one_request(session, target, plan, tally))
            tasks.add(task)
            task.add_done_callback(finished)
            due += 1 / args.rate
            number += 1
        if tasks:
            await asyncio.wait(tasks, timeout=_SIGNAL_DRAIN_S if tally.signal else _DRAIN_S)
        tally.unfinished = len(tasks)
        for task in list(tasks):
            task.cancel()
        sampler.cancel()
        await asyncio.gather(sampler, *tasks, return_exceptions=True)
    await asyncio.sleep(1.0)  # closed connections gone from the router's descriptors
    now = footprint(router_pid)
    after = soak_report.Sample(
        time.monotonic() - start,
        now.rss_kb,
        now.open_files,
        tally.requests,
        tally.error_count,
        tally.in_flight,
    )
    return tally, samples, after


def _stopped_by(signum: int, tally: Tally, stopping: asyncio.Event) -> None:
    tally.signal = signal.Signals(signum).name
    stopping.set()


async def _stops_before(stopping: asyncio.Event, due: float) -> bool:
    """Wait until ``due`` (a ``time.monotonic()`` instant); whether a signal came first."""
    if stopping.is_set():
        return True
    try:
        await asyncio.wait_for(stopping.wait(), timeout=max(0.0, due - time.monotonic()))
    except TimeoutError:
        return False
    return True


def notes(args: argparse.Namespace) -> list[str]:
    found = [
        f"{args.minutes:g} min at {args.rate:g} requests/s, at most {args.concurrency} in flight, "
        f"over keep-alive connections; {args.stream_share:.0%} streams (~90 KB Claude Code-shaped "
        f"body, {span_text(args.events)} writes {span_text(args.interval_ms)} ms apart), "
        f"the rest small JSON calls; seed {args.seed}",
        f"the router's process tree sampled every {args.sample_s:g} s (RSS: the sum of VmRSS; "
        "open files: entries of /proc/<pid>/fd); the first third of the samples is the warm-up",
        f"flat: the least-squares line through the samples after the warm-up rises by less than "
        f"{soak_report.RSS_TOLERANCE_SHARE:.0%} of their mean RSS, and by less than "
        f"{soak_report.FILES_TOLERANCE_MIN} open files or "
        f"{soak_report.FILES_TOLERANCE_SHARE:.0%} of their mean, whichever is more",
        "the router: `link-assistant-router serve`, SQLite, `LOG_LEVEL=info`",
    ]
    return found + router_notes(args.router_env, args.key_option)


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped, temp dir removed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    info = report.host(command_line(argv, "bench/soak.py"))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    servers.raise_open_files_limit()
    problems: list[str] = []
    with ExitStack() as stack:
        temp_dir = Path(tempfile.mkdtemp(prefix="lar-soak-"))
        if args.keep:
            print(f"keeping {temp_dir}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, temp_dir, ignore_errors=True)
        try:
            upstream = servers.start_upstream(temp_dir, 10)
            stack.callback(upstream.stop)
            extra = dict(item.split("=", 1) for item in args.router_env)
            router, key = servers.start_router_with_key(
                temp_dir, "router", upstream.port, extra, args.key_option
            )
            stack.callback(router.stop)
        except servers.ServerError as exc:
            print(f"\n!!! could not start the servers: {exc}\n", file=sys.stderr)
            return 2
        target = Target(router.url + "/v1/messages", key, bodies.json_body(), bodies.sse_body())
        tally, samples, after = uvloop.run(soak(args, target, router.pid))
        signal.signal(signal.SIGTERM, _stop_on_sigterm)  # the loop took it over, then reset it
        router.stop()
        upstream.stop()
        problems += [found for found in (router.logged_errors(), upstream.logged_errors()) if found]
    if tally.signal:
        problems.append(f"stopped early by {tally.signal}, after {after.at_s / 60:.1f} min")
    if tally.unfinished:
        problems.append(f"{tally.unfinished:,} requests still in flight at the end were cancelled")
    if tally.behind:
        problems.append(
            f"{tally.behind:,} starts came over {_BEHIND_S:g} s behind the schedule (all "
            f"{args.concurrency} slots busy, or the client starved): the rate was lower"
        )
    traffic = [
        soak_report.Traffic.of(kind, tally.latencies[kind], tally.errors[kind])
        for kind in ("json", "stream")
    ]
    section = soak_report.render(info, notes(args), args.minutes, traffic, samples, after, problems)
    print(section)
    if tally.signal:
        print(f"stopped by {tally.signal}: not written", file=sys.stderr)
        return 128 + signal.Signals[tally.signal].value
    if args.write:
        report.write_docs(DOCS, section, soak_report.START, soak_report.END, soak_report.HEADING)
        print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    listed = soak_report.problems(traffic, soak_report.trends(samples), problems)
    return 1 if listed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
