"""Thousands of concurrent Claude Code-shaped streams through the router (issue 12's capacity
targets), beside the same load sent straight to the fake upstream.

Starts the fake upstream (bench/upstream.py) on 127.0.0.1, then for each target in turn (direct
to the upstream, then the router with each ``--workers`` setting, each router started afresh
with its own key) opens ``--streams`` paced streams from ``--clients`` client processes
(bench/streamers.py), ramped up over ``--ramp`` seconds, while sampling the router's memory,
open files and open streams; joins what the clients saw with what the upstream wrote, event by
event, and prints a Markdown report (``--write`` puts it in docs/benchmarks.md between its own
markers). Every process it starts is stopped at the end. See docs/benchmarks.md for the method.

    .venv/bin/python bench/capacity.py [--streams 5000] [--events 20-40] [--interval-ms 100-500]
        [--ramp 5] [--workers 1,2,auto] [--clients N] [--seed 1] [--no-direct]
        [--router-env NAME=VALUE] [--key-option FLAG] [--write] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

import orjson

import bodies
import capacity_report
import cpu
import report
import servers
import streamers
from footprint import footprint
from options import DOCS, ROOT, command_line, router_notes, span, span_text
from upstream import TIMINGS_PATH, Timing

SAMPLE_EVERY_S = 0.25
_READY_TIMEOUT_S = 60.0
_START_MARGIN_S = 0.5
_SETTLE_S = 2.0
_STOP_GRACE_S = 5.0


def loud(message: str) -> None:
    print(f"\n!!! {message}\n", file=sys.stderr, flush=True)


def worker_settings(text: str) -> list[str]:
    found = [item.strip() for item in text.split(",") if item.strip()]
    if not found or any(item != "auto" and not item.isdigit() for item in found):
        raise argparse.ArgumentTypeError("expected a comma-separated list of counts and auto")
    return found


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--streams", type=int, default=5000, help="concurrent streams (5000)")
    parser.add_argument(
        "--events", type=span, default=(20, 40), help="writes per stream, A-B (20-40)"
    )
    parser.add_argument(
        "--interval-ms", type=span, default=(100, 500), help="ms between writes, A-B (100-500)"
    )
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds to start them all (5)")
    parser.add_argument(
        "--workers", type=worker_settings, default=["1", "2", "auto"], help="ROUTER_WORKERS runs"
    )
    parser.add_argument(
        "--clients", type=int, default=os.cpu_count() or 1, help="client processes (one a core)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the streams' pace")
    parser.add_argument(
        "--grace", type=float, default=60.0, help="seconds past the plan before a stream hangs"
    )
    parser.add_argument("--no-direct", action="store_true", help="skip the direct baseline")
    parser.add_argument(
        "--router-env", action="append", default=[], metavar="NAME=VALUE", help="repeatable"
    )
    parser.add_argument(
        "--key-option", action="append", default=[], metavar="FLAG", help="for `tokens issue`"
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.streams < 1 or args.clients < 1 or args.ramp < 0 or args.grace <= 0:
        parser.error("--streams and --clients must be at least 1, --ramp 0 or more")
    if args.events[0] < 2:
        parser.error("--events: a stream has at least 2 writes")
    if any("=" not in item for item in args.router_env):
        parser.error("--router-env takes NAME=VALUE")
    return args


@dataclass
class Bench:
    args: argparse.Namespace
    temp_dir: Path
    body: Path
    upstream: servers.Server
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def take_timings(upstream: servers.Server) -> dict[str, Timing]:
    """The upstream's timings of the streams since the last call (it forgets them)."""
    connection = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=60)
    try:
        connection.request("GET", TIMINGS_PATH)
        data = orjson.loads(connection.getresponse().read())
    finally:
        connection.close()
    return {
        key: Timing(value["received"], value["sent"], value["complete"])
        for key, value in data.items()
    }


@dataclass(frozen=True)
class _Reading:
    at: float
    router_us: float
    upstream_us: float
    harness_s: float
    machine_us: float


def _read_cpu(router_pid: int | None, upstream_pid: int) -> _Reading:
    return _Reading(
        time.monotonic(),
        cpu.tree_cpu_us(router_pid) if router_pid else 0.0,
        cpu.tree_cpu_us(upstream_pid),
        time.process_time(),
        cpu.machine_busy_us(),
    )


def _stop(process: BaseProcess) -> None:
    process.join(_STOP_GRACE_S)
    if process.is_alive():
        process.terminate()
        process.join(_STOP_GRACE_S)
    if process.is_alive():
        process.kill()
        process.join(_STOP_GRACE_S)


def _collect(
    channels: list[Connection],
    sample: Callable[[], None],
    deadline: float,
    problems: list[str],
) -> list[streamers.Report]:
    """Sample until every client has reported (or the deadline passes)."""
    reports: dict[int, streamers.Report] = {}
    while len(reports) < len(channels):
        if time.monotonic() > deadline:
            problems.append(f"{len(channels) - len(reports)} client process(es) never reported")
            break
        for slot, channel in enumerate(channels):
            if slot in reports or not channel.poll():
                continue
            try:
                reports[slot] = channel.recv()
            except EOFError:
                problems.append(f"client process {slot} died without reporting")
                reports[slot] = streamers.Report([], 0.0)
        sample()
        time.sleep(SAMPLE_EVERY_S)
    return list(reports.values())


def run_target(
    bench: Bench, label: str, workers: int, target: servers.Server, api_key: str
) -> capacity_report.TargetRun:
    """One target's run: the clients' streams against ``target`` with the samples, CPU and
    timings around them."""
    args = bench.args
    print(f"{label}: {args.streams:,} streams from {args.clients} clients", file=sys.stderr)
    prefix = label.split(",")[0].replace(" ", "") + f"w{workers}"
    plans = streamers.plan_streams(
        args.streams, prefix, args.seed, args.events, args.interval_ms, args.ramp
    )
    deadline_s = args.ramp + max(plan.duration_s for plan in plans) + args.grace
    context = multiprocessing.get_context("spawn")
    opened = context.Array("i", args.clients, lock=False)
    router_pid = target.pid if workers else None
    take_timings(bench.upstream)  # forget anything earlier
    channels: list[Connection] = []
    processes: list[BaseProcess] = []
    samples: list[capacity_report.Sample] = []
    try:
        for slot in range(args.clients):
            share = streamers.Share(
                target.url + "/v1/messages",
                api_key,
                str(bench.body),
                tuple(plans[slot :: args.clients]),
                deadline_s,
            )
            mine, theirs = context.Pipe()
            process = context.Process(
                target=streamers.client_process,
                args=(share, opened, slot, theirs),
                name=f"capacity-client-{slot}",
            )
            process.start()
            theirs.close()
            channels.append(mine)
            processes.append(process)
        for slot, channel in enumerate(channels):
            if not channel.poll(_READY_TIMEOUT_S) or channel.recv() != "ready":
                raise servers.ServerError(f"client process {slot} did not get ready")
        before = footprint(router_pid) if router_pid else None
        start_at = time.monotonic() + _START_MARGIN_S
        for channel in channels:
            channel.send(start_at)
        time.sleep(max(0.0, start_at - time.monotonic()))
        first = _read_cpu(router_pid, bench.upstream.pid)

        def sample() -> None:
            if router_pid:
                now = footprint(router_pid)
                samples.append(
                    capacity_report.Sample(
                        time.monotonic() - start_at, sum(opened), now.rss_kb, now.open_files
                    )
                )

        reports = _collect(channels, sample, start_at + deadline_s + 60, bench.problems)
        last = _read_cpu(router_pid, bench.upstream.pid)
    finally:
        for started in processes:
            _stop(started)
    time.sleep(1.0)  # the closed connections' memory back, if it comes back
    after = footprint(router_pid) if router_pid else None
    timings = take_timings(bench.upstream)
    use = capacity_report.CpuUse(
        router=last.router_us - first.router_us,
        upstream=last.upstream_us - first.upstream_us,
        clients=sum(r.cpu_s for r in reports) * 1e6,
        harness=(last.harness_s - first.harness_s) * 1e6,
        machine=last.machine_us - first.machine_us,
    )
    return capacity_report.TargetRun(
        label=label,
        workers=workers,
        streams=args.streams,
        outcomes=[outcome for r in reports for outcome in r.outcomes],
        timings=timings,
        window_s=last.at - first.at,
        cpu=use,
        cores=os.cpu_count() or 1,
        before=before,
        after=after,
        samples=samples,
    )


def cores() -> int:
    """What ``auto`` means: one worker per core this process may run on."""
    return len(os.sched_getaffinity(0))


def start_router(bench: Bench, setting: str) -> tuple[servers.Server, str, str, int] | None:
    """The router with ``ROUTER_WORKERS=setting``, its key, label and worker count; None when
    ``auto`` is refused and 2 workers are measured anyway."""
    extra = dict(item.split("=", 1) for item in bench.args.router_env)
    try:
        router, key = servers.start_router_with_key(
            bench.temp_dir,
            f"router-{setting}",
            bench.upstream.port,
            {**extra, "ROUTER_WORKERS": setting},
            bench.args.key_option,
        )
    except servers.ServerError as exc:
        if setting != "auto":
            raise
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = f"`{lines[-1]}`" if lines else "no reason logged"
        if "2" in bench.args.workers:
            bench.notes.append(
                f"the router refused `ROUTER_WORKERS=auto` ({reason}): the 2-worker run stands "
                "for it"
            )
            return None
        bench.notes.append(f"the router refused `ROUTER_WORKERS=auto` ({reason}): ran 2 instead")
        router, key = servers.start_router_with_key(
            bench.temp_dir,
            "router-2-for-auto",
            bench.upstream.port,
            {**extra, "ROUTER_WORKERS": "2"},
            bench.args.key_option,
        )
        return router, key, "router, 2 workers (auto refused)", 2
    workers = cores() if setting == "auto" else int(setting)
    if setting == "auto":
        label = f"router, auto ({workers} workers)"
    else:
        label = f"router, {workers} worker{'' if workers == 1 else 's'}"
    listening = servers.wait_for_log(router, "listening on", workers, 30.0)
    if listening < workers:
        bench.notes.append(f"{label}: {listening} of {workers} workers said they listen")
    return router, key, label, workers


def run_all(
    args: argparse.Namespace, temp_dir: Path, stack: ExitStack
) -> tuple[list[capacity_report.TargetRun], Bench]:
    body = bodies.write_bodies(temp_dir, ["sse"])["sse"]
    upstream = servers.start_upstream(temp_dir, 10)
    stack.callback(upstream.stop)
    bench = Bench(args, temp_dir, body, upstream)
    runs = []
    if not args.no_direct:
        runs.append(run_target(bench, capacity_report.DIRECT, 0, upstream, "la_sk_direct"))
        time.sleep(_SETTLE_S)
    for setting in args.workers:
        started = start_router(bench, setting)
        if started is None:
            continue
        router, key, label, workers = started
        try:
            runs.append(run_target(bench, label, workers, router, key))
        finally:
            router.stop()
        if errors := router.logged_errors():
            bench.problems.append(f"{label}: {errors}")
        time.sleep(_SETTLE_S)
    if errors := upstream.logged_errors():
        bench.problems.append(errors)
    return runs, bench


def notes(args: argparse.Namespace) -> list[str]:
    plans = streamers.plan_streams(
        args.streams, "plan", args.seed, args.events, args.interval_ms, args.ramp
    )
    found = [
        f"{args.streams:,} streams, each `POST /v1/messages` with the ~90 KB Claude Code-shaped "
        f"body; the upstream answers with {span_text(args.events)} writes "
        f"{span_text(args.interval_ms)} ms apart (drawn per stream, seed "
        f"{args.seed}), started evenly over {args.ramp:g} s and ending spread out after it "
        f"(at most {streamers.busiest_end(plans):,} ends in a second)",
        f"open at once, as planned: {streamers.planned_peak(plans):,} of {len(plans):,}; "
        f"writes per second the upstream makes with all of them open: "
        f"~{streamers.offered_rate(plans):,.0f}",
        f"{args.clients} client process(es), one aiohttp session each; "
        f"the router: `link-assistant-router serve`, SQLite, `LOG_LEVEL=info`",
    ]
    return found + router_notes(args.router_env, args.key_option)


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped, temp dir removed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    info = report.host(command_line(argv, "bench/capacity.py"))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    soft, _hard = servers.raise_open_files_limit()
    with ExitStack() as stack:
        temp_dir = Path(tempfile.mkdtemp(prefix="lar-capacity-"))
        if args.keep:
            print(f"keeping {temp_dir}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, temp_dir, ignore_errors=True)
        try:
            runs, bench = run_all(args, temp_dir, stack)
        except servers.ServerError as exc:
            loud(f"could not start the servers or clients: {exc}")
            return 2
    extra = [f"open files limit (soft, raised to the hard one): {soft:,}"]
    section = capacity_report.render(info, notes(args) + extra + bench.notes, runs, bench.problems)
    print(section)
    if args.write:
        report.write_docs(
            DOCS, section, capacity_report.START, capacity_report.END, capacity_report.HEADING
        )
        print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    failed = bench.problems or any(o.error for run in runs for o in run.outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
