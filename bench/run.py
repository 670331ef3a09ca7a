"""Benchmark the router against nginx and a direct connection, on loopback.

Starts a fake Anthropic upstream, nginx and the router on 127.0.0.1, checks that each answers
every case correctly, runs wrk for each case x connection count x target, measures the CPU each
proxy spends per request, and prints a Markdown report (``--write`` puts it in
docs/benchmarks.md). Every process it starts is stopped at the end, and its temporary directory
removed unless ``--keep``. See docs/benchmarks.md for the method.

    .venv/bin/python bench/run.py [--duration 10] [--cases json,sse,big,chat] [--connections 1,16]
                                  [--targets direct,nginx,aiohttp,router] [--profile]
                                  [--profile-case sse] [--write] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import bodies
import cpu
import probe
import profiler
import report
import servers
import wrk

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
TARGETS = ("direct", "nginx", "aiohttp", "router")
PROFILE_CASE, PROFILE_CONNECTIONS = "sse", 16


def _names(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names or any(name not in allowed for name in names):
            raise argparse.ArgumentTypeError(f"expected some of {','.join(allowed)}")
        return names

    return parse


def _counts(text: str) -> list[int]:
    try:
        counts = [int(item) for item in text.split(",") if item.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected comma-separated integers") from exc
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers")
    return counts


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected an integer, 0 or more")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=_non_negative, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--warmup", type=_non_negative, default=1, help="seconds of warm-up per run (0: none)"
    )
    parser.add_argument(
        "--cases",
        type=_names(tuple(bodies.BODIES)),
        default=list(bodies.BODIES),
        help="comma-separated, default json,sse,big,chat",
    )
    parser.add_argument(
        "--connections", type=_counts, default=[1, 16], help="comma-separated, default 1,16"
    )
    parser.add_argument(
        "--targets",
        type=_names(TARGETS),
        default=list(TARGETS),
        help="comma-separated, default direct,nginx,aiohttp,router",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the router (py-spy)")
    parser.add_argument(
        "--profile-case",
        choices=tuple(bodies.BODIES),
        default=PROFILE_CASE,
        help=f"the case the profile loads the router with (default {PROFILE_CASE})",
    )
    parser.add_argument("--write", action="store_true", help=f"update {DOCS.relative_to(ROOT)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--events-per-write", type=_non_negative, default=10, help="upstream SSE batching"
    )
    parser.add_argument(
        "--router-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the router (repeatable)",
    )
    parser.add_argument(
        "--key-option",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for `tokens issue` when making the bench's key "
        "(e.g. --key-option=--rpm=100000; repeatable)",
    )
    args = parser.parse_args(argv)
    if args.profile and "router" not in args.targets:
        parser.error("--profile needs the router target")
    if args.duration < 1 or args.events_per_write < 1:
        parser.error("--duration and --events-per-write must be at least 1")
    if any("=" not in item for item in args.router_env):
        parser.error("--router-env takes NAME=VALUE")
    return args


def command_line(argv: list[str]) -> str:
    python = Path(sys.executable)
    shown = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else str(python)
    return shlex.join([shown, "bench/run.py", *argv])


def loud(message: str) -> None:
    print(f"\n!!! {message}\n", file=sys.stderr, flush=True)


@dataclass
class Bench:
    """The servers under test, the bodies, and the key the router accepts."""

    temp_dir: Path
    bodies: dict[str, Path]
    upstream: servers.Server
    targets: dict[str, servers.Server]
    api_key: str = ""


def start(args: argparse.Namespace, temp_dir: Path, stack: ExitStack) -> Bench:
    files = bodies.write_bodies(temp_dir, args.cases)
    upstream = servers.start_upstream(temp_dir, args.events_per_write)
    stack.callback(upstream.stop)
    bench = Bench(temp_dir, files, upstream, {"direct": upstream})
    if "nginx" in args.targets:
        nginx = servers.start_nginx(temp_dir, upstream.port)
        stack.callback(nginx.stop)
        bench.targets["nginx"] = nginx
    if "aiohttp" in args.targets:
        bare = servers.start_bare_proxy(temp_dir, upstream.port)
        stack.callback(bare.stop)
        bench.targets["aiohttp"] = bare
    if "router" in args.targets:
        extra = dict(item.split("=", 1) for item in args.router_env)
        env = servers.router_env(temp_dir, servers.free_port(), upstream.port, extra)
        router = servers.start_router(temp_dir, env)
        stack.callback(router.stop)
        bench.targets["router"] = router
        bench.api_key = servers.issue_key(temp_dir, env, args.key_option)
    bench.targets = {name: bench.targets[name] for name in args.targets}
    return bench


def headers(case: str, api_key: str) -> dict[str, str]:
    """The headers wrk's Lua script sends, for the probe."""
    sent = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    if api_key:
        sent["x-api-key"] = api_key
    if case in bodies.ANTHROPIC_BETA:
        sent["anthropic-beta"] = bodies.ANTHROPIC_BETA[case]
    return sent


def probe_all(bench: Bench) -> list[str]:
    """One checked request per case and target; the problems found."""
    problems = []
    for case, path in bench.bodies.items():
        body, streaming = path.read_bytes(), case in bodies.STREAMING
        sent = headers(case, bench.api_key)
        if case in bodies.ROUTER_ONLY:
            if "router" in bench.targets:
                url_path = bodies.PATHS[case]
                reply = probe.send(bench.targets["router"].port, body, sent, url_path)
                problems += [f"probe router {case}: {p}" for p in probe.chat_problems(reply)]
            continue
        reference = probe.send(bench.upstream.port, body, sent)
        for name, server in bench.targets.items():
            try:
                reply = probe.send(server.port, body, sent)
            except (OSError, http.client.HTTPException) as exc:
                problems.append(f"probe {name} {case}: {type(exc).__name__}: {exc}")
                continue
            against = None if name == "direct" else reference
            for problem in probe.problems(reply, streaming, against):
                problems.append(f"probe {name} {case}: {problem}")
    return problems


def load_for(bench: Bench, case: str, connections: int, target: str, seconds: int) -> wrk.Load:
    return wrk.Load(
        url=bench.targets[target].url + "/",
        body=bench.bodies[case],
        connections=connections,
        duration_s=seconds,
        api_key=bench.api_key,
        anthropic_beta=bodies.ANTHROPIC_BETA.get(case, ""),
        path=bodies.PATHS.get(case, "/v1/messages"),
    )


def measure(
    bench: Bench, args: argparse.Namespace, case: str, conns: int, target: str
) -> report.Measurement:
    """Warm up, then one timed wrk run with the target's CPU read around it."""
    server = bench.targets[target]
    try:
        if args.warmup > 0:
            wrk.run(load_for(bench, case, conns, target, args.warmup))
        before = cpu.snapshot(server.pid, [bench.upstream.pid])
        result = wrk.run(load_for(bench, case, conns, target, args.duration))
        used = cpu.snapshot(server.pid, [bench.upstream.pid]) - before
    except wrk.WrkError as exc:
        return report.Measurement(case, conns, target, None, None, failure=str(exc))
    per_request = used.target_us / result.requests if result.requests else None
    other = max(0.0, used.machine_us - used.bench_us) / (result.duration_s * 1e6)
    return report.Measurement(case, conns, target, result, per_request, other_cpu=other)


def run_matrix(bench: Bench, args: argparse.Namespace) -> list[report.Measurement]:
    measurements = []
    for case in args.cases:
        for conns in args.connections:
            for target in bench.targets:
                if case in bodies.ROUTER_ONLY and target != "router":
                    continue
                m = measure(bench, args, case, conns, target)
                measurements.append(m)
                progress(m)
                if m.problems:
                    loud(f"{target} {case} c={conns}: " + "; ".join(m.problems))
    return measurements


def progress(m: report.Measurement) -> None:
    if m.result is None:
        print(f"{m.case:>5} c={m.connections:<3} {m.target:<7} failed", file=sys.stderr)
        return
    cpu = "-" if m.cpu_us_per_request is None else f"{m.cpu_us_per_request:,.0f} µs/req"
    print(
        f"{m.case:>5} c={m.connections:<3} {m.target:<7} {m.result.requests_per_s:>10,.0f} req/s  "
        f"p50 {m.result.p50_us / 1000:.2f} ms  p99 {m.result.p99_us / 1000:.2f} ms  CPU {cpu}",
        file=sys.stderr,
        flush=True,
    )


def profile_router(bench: Bench, args: argparse.Namespace) -> tuple[str, list[str]]:
    """The profile section, or nothing and the reason py-spy could not run."""
    case = args.profile_case
    if case not in bench.bodies:
        bench.bodies.update(bodies.write_bodies(bench.temp_dir, [case]))
    load = load_for(bench, case, PROFILE_CONNECTIONS, "router", args.duration)
    print(f"profiling the router: {case} c={PROFILE_CONNECTIONS}", file=sys.stderr)
    try:
        router_pid = bench.targets["router"].pid
        profile, result = profiler.record(router_pid, bench.temp_dir, lambda: wrk.run(load))
    except (profiler.ProfilerError, wrk.WrkError) as exc:
        loud(f"no profile: {exc}")
        return "", [f"profile: {exc}".splitlines()[0]]
    problems = [f"profile run: {problem}" for problem in result.problems]
    if profile.samples == 0:
        return "", [*problems, "profile: py-spy recorded no samples holding the GIL"]
    section = report.profile_section(profile, result.requests_per_s, case, PROFILE_CONNECTIONS)
    return section, problems


def notes(args: argparse.Namespace) -> list[str]:
    found = [
        f"each run: `wrk -t1 -c<conns> -d{args.duration}s --latency -s bench/post.lua`, "
        f"after a {args.warmup} s warm-up; upstream writes {args.events_per_write} SSE events "
        "per write"
    ]
    if args.router_env:
        found.append("router environment: " + ", ".join(f"`{item}`" for item in args.router_env))
    if args.key_option:
        found.append("key issued with: " + " ".join(f"`{item}`" for item in args.key_option))
    return found


def logged_errors(bench: Bench) -> list[str]:
    """What the servers' logs say went wrong (the upstream is also the direct target)."""
    used = dict.fromkeys([bench.upstream, *bench.targets.values()])
    return [summary for summary in (server.logged_errors() for server in used) if summary]


def run(
    args: argparse.Namespace, temp_dir: Path, stack: ExitStack
) -> tuple[list[report.Measurement], list[str], str]:
    """Start the servers, probe, load, profile: the measurements, the problems, the profile."""
    bench = start(args, temp_dir, stack)
    problems = probe_all(bench)
    for problem in problems:
        loud(problem)
    started = time.monotonic()
    measurements = run_matrix(bench, args)
    problems += [
        f"{m.target} {m.case} c={m.connections}: {problem}"
        for m in measurements
        for problem in m.problems
    ]
    profile = ""
    if args.profile:
        profile, profile_problems = profile_router(bench, args)
        problems += profile_problems
    for summary in logged_errors(bench):
        loud(summary)
        problems.append(summary)
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return measurements, problems, profile


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped, temp dir removed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    info = report.machine(command_line(argv))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with ExitStack() as stack:
        temp_dir = Path(tempfile.mkdtemp(prefix="lar-bench-"))
        if args.keep:
            print(f"keeping {temp_dir}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, temp_dir, ignore_errors=True)
        try:
            measurements, problems, profile = run(args, temp_dir, stack)
        except servers.ServerError as exc:
            hint = "" if args.keep else " (run with --keep to keep the logs)"
            loud(f"could not start the servers{hint}: {exc}")
            return 2
    section = report.render(info, measurements, notes(args), problems, profile)
    print(section)
    if args.write:
        report.write_docs(DOCS, section)
        print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    if problems:
        loud(f"{len(problems)} problem(s): see Problems in the report")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
