"""Benchmark the router against a bare aiohttp proxy, nginx and a direct connection, on loopback.

Starts a fake Anthropic upstream, nginx, the bare aiohttp pass-through and the router on
127.0.0.1 (and, with ``--compare REV``, the router built from another git revision), checks that
each answers every case correctly, then for each case x connection count runs wrk against every
target in turn, round after round, measuring the CPU each proxy spends per request, and prints a
Markdown report of the medians and of the ratios between targets round by round (``--write``
puts it in docs/benchmarks.md). Every process it starts is stopped at the end, and its temporary
directory removed unless ``--keep``. See docs/benchmarks.md for the method.

    .venv/bin/python bench/run.py [--rounds 5] [--duration 10] [--cases json,sse,big,chat,responses]
                                  [--connections 1,16] [--targets direct,nginx,aiohttp,router]
                                  [--compare REV] [--profile] [--profile-case sse]
                                  [--write] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import bodies
import cpu
import probe
import profiler
import report
import revision
import rounds
import servers
import wrk
from options import DOCS, ROOT, command_line, notes, parse_args

PROFILE_CONNECTIONS = 16


def loud(message: str) -> None:
    print(f"\n!!! {message}\n", file=sys.stderr, flush=True)


@dataclass
class Bench:
    """The servers under test, the bodies, and the key each router accepts."""

    temp_dir: Path
    bodies: dict[str, Path]
    upstream: servers.Server
    targets: dict[str, servers.Server]
    keys: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # for the report, learnt while starting
    problems: list[str] = field(default_factory=list)

    def key(self, target: str) -> str:
        """The key sent to ``target``: a router's own; for the others (which pass it on to the
        upstream, which takes any), the current router's, so every target gets the same
        headers."""
        if target in self.keys:
            return self.keys[target]
        return self.keys.get(rounds.ROUTER, next(iter(self.keys.values()), ""))


def start_router(
    args: argparse.Namespace,
    bench: Bench,
    stack: ExitStack,
    name: str,
    executable: str = "",
) -> None:
    """A router target with a home and data directory of its own, and a key from its own CLI."""
    extra = dict(item.split("=", 1) for item in args.router_env)
    router, key = servers.start_router_with_key(
        bench.temp_dir, name, bench.upstream.port, extra, args.key_option, executable
    )
    stack.callback(router.stop)
    bench.targets[name] = router
    bench.keys[name] = key


def start(
    args: argparse.Namespace,
    temp_dir: Path,
    stack: ExitStack,
    compared: revision.Revision | None,
) -> Bench:
    built = None
    if compared is not None:
        print(
            f"building {compared.target} from {compared.sha} (git archive, pip install)",
            file=sys.stderr,
            flush=True,
        )
        built = revision.build(compared, ROOT, temp_dir)
    files = bodies.write_bodies(temp_dir, args.cases)
    upstream = servers.start_upstream(temp_dir, args.events_per_write)
    stack.callback(upstream.stop)
    bench = Bench(temp_dir, files, upstream, {"direct": upstream})
    if compared is not None and built is not None:
        if built.pinned:
            bench.notes.append(
                f"`{compared.target}`'s dependencies: pinned to this venv's versions (`pip freeze`)"
            )
        else:
            bench.problems.append(
                f"{compared.target}: its dependencies could not be pinned to this venv's "
                "versions, so it runs on the ones pip chose (see its build.log with --keep)"
            )
    if "nginx" in args.targets:
        nginx = servers.start_nginx(temp_dir, upstream.port)
        stack.callback(nginx.stop)
        bench.targets["nginx"] = nginx
    if "aiohttp" in args.targets:
        bare = servers.start_bare_proxy(temp_dir, upstream.port)
        stack.callback(bare.stop)
        bench.targets["aiohttp"] = bare
    if rounds.ROUTER in args.targets:
        start_router(args, bench, stack, rounds.ROUTER)
    order = list(args.targets)
    if compared is not None and built is not None:
        start_router(args, bench, stack, compared.target, str(built.executable))
        order.append(compared.target)
    bench.targets = {name: bench.targets[name] for name in order}
    return bench


def runs_case(case: str, target: str) -> bool:
    """Whether ``target`` takes ``case``: the translated cases go to the routers only."""
    return case not in bodies.ROUTER_ONLY or rounds.is_router(target)


def headers(case: str, api_key: str) -> dict[str, str]:
    """The headers wrk's Lua script sends, for the probe."""
    sent = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    if api_key:
        sent["x-api-key"] = api_key
    if case in bodies.ANTHROPIC_BETA:
        sent["anthropic-beta"] = bodies.ANTHROPIC_BETA[case]
    return sent


def probe_all(bench: Bench) -> list[str]:
    """One checked request per case and target, each with its own key; the problems found."""
    problems = []
    for case, path in bench.bodies.items():
        body, streaming = path.read_bytes(), case in bodies.STREAMING
        if case in bodies.ROUTER_ONLY:
            for name, server in bench.targets.items():
                if not runs_case(case, name):
                    continue
                sent = headers(case, bench.key(name))
                try:
                    reply = probe.send(server.port, body, sent, bodies.PATHS[case])
                except (OSError, http.client.HTTPException) as exc:
                    problems.append(f"probe {name} {case}: {type(exc).__name__}: {exc}")
                    continue
                found = probe.TRANSLATED[case](reply)
                problems += [f"probe {name} {case}: {problem}" for problem in found]
            continue
        reference = probe.send(bench.upstream.port, body, headers(case, bench.key("direct")))
        for name, server in bench.targets.items():
            try:
                reply = probe.send(server.port, body, headers(case, bench.key(name)))
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
        api_key=bench.key(target),
        anthropic_beta=bodies.ANTHROPIC_BETA.get(case, ""),
        path=bodies.PATHS.get(case, "/v1/messages"),
    )


def measure(
    bench: Bench, args: argparse.Namespace, case: str, conns: int, target: str, round_no: int
) -> rounds.Measurement:
    """Warm up, then one timed wrk run with the target's CPU read around it."""
    server = bench.targets[target]
    try:
        if args.warmup > 0:
            wrk.run(load_for(bench, case, conns, target, args.warmup))
        before = cpu.snapshot(server.pid, [bench.upstream.pid])
        result = wrk.run(load_for(bench, case, conns, target, args.duration))
        used = cpu.snapshot(server.pid, [bench.upstream.pid]) - before
    except wrk.WrkError as exc:
        return rounds.Measurement(case, conns, target, None, None, failure=str(exc), round=round_no)
    per_request = used.target_us / result.requests if result.requests else None
    other = max(0.0, used.machine_us - used.bench_us) / (result.duration_s * 1e6)
    return rounds.Measurement(
        case, conns, target, result, per_request, other_cpu=other, round=round_no
    )


def planned_runs(bench: Bench, args: argparse.Namespace) -> int:
    per_round = sum(runs_case(case, target) for case in args.cases for target in bench.targets)
    return int(per_round * len(args.connections) * args.rounds)


def run_matrix(bench: Bench, args: argparse.Namespace) -> list[rounds.Measurement]:
    """Each case and connection count in rounds: every target once per round, in turn."""
    total = planned_runs(bench, args)
    minutes = total * (args.warmup + args.duration) / 60
    print(f"{total} runs of {args.warmup} + {args.duration} s: ~{minutes:.0f} min", file=sys.stderr)
    measurements = []
    for case in args.cases:
        for conns in args.connections:
            names = [target for target in bench.targets if runs_case(case, target)]
            for index in range(args.rounds):
                for target in rounds.round_order(names, index):
                    m = measure(bench, args, case, conns, target, index + 1)
                    measurements.append(m)
                    progress(m, args.rounds)
                    if m.problems:
                        where = f"{target} {case} c={conns} round {m.round}"
                        loud(f"{where}: " + "; ".join(m.problems))
    return measurements


def progress(m: rounds.Measurement, total_rounds: int) -> None:
    where = f"{m.case:>5} c={m.connections:<3} {m.round}/{total_rounds} {m.target:<16}"
    if m.result is None:
        print(f"{where} failed", file=sys.stderr)
        return
    cpu = "-" if m.cpu_us_per_request is None else f"{m.cpu_us_per_request:,.0f} µs/req"
    print(
        f"{where} {m.result.requests_per_s:>10,.0f} req/s  "
        f"p50 {m.result.p50_us / 1000:.2f} ms  p99 {m.result.p99_us / 1000:.2f} ms  CPU {cpu}",
        file=sys.stderr,
        flush=True,
    )


def profile_router(
    bench: Bench, args: argparse.Namespace, measurements: list[rounds.Measurement]
) -> tuple[str, list[str]]:
    """The profile section, or nothing and the reason py-spy could not run."""
    case = args.profile_case
    if case not in bench.bodies:
        bench.bodies.update(bodies.write_bodies(bench.temp_dir, [case]))
    load = load_for(bench, case, PROFILE_CONNECTIONS, rounds.ROUTER, args.duration)
    print(f"profiling the router: {case} c={PROFILE_CONNECTIONS}", file=sys.stderr)
    try:
        router_pid = bench.targets[rounds.ROUTER].pid
        profile, result = profiler.record(router_pid, bench.temp_dir, lambda: wrk.run(load))
    except (profiler.ProfilerError, wrk.WrkError) as exc:
        loud(f"no profile: {exc}")
        return "", [f"profile: {exc}".splitlines()[0]]
    problems = [f"profile run: {problem}" for problem in result.problems]
    if profile.samples == 0:
        return "", [*problems, "profile: py-spy recorded no samples holding the GIL"]
    section = report.profile_section(
        profile,
        result.requests_per_s,
        case,
        PROFILE_CONNECTIONS,
        floor_ratio=report.median_floor_ratio(measurements, case, PROFILE_CONNECTIONS),
    )
    return section, problems


def logged_errors(bench: Bench) -> list[str]:
    """What the servers' logs say went wrong (the upstream is also the direct target)."""
    used = dict.fromkeys([bench.upstream, *bench.targets.values()])
    return [summary for summary in (server.logged_errors() for server in used) if summary]


def run(
    args: argparse.Namespace,
    temp_dir: Path,
    stack: ExitStack,
    compared: revision.Revision | None,
) -> tuple[list[rounds.Measurement], list[str], str, list[str]]:
    """Start the servers, probe, load, profile: the measurements, the problems, the profile, and
    notes on what was started."""
    bench = start(args, temp_dir, stack, compared)
    problems = bench.problems + probe_all(bench)
    for problem in problems:
        loud(problem)
    started = time.monotonic()
    measurements = run_matrix(bench, args)
    problems += [
        f"{m.target} {m.case} c={m.connections} round {m.round}: {problem}"
        for m in measurements
        for problem in m.problems
    ]
    profile = ""
    if args.profile:
        profile, profile_problems = profile_router(bench, args, measurements)
        problems += profile_problems
    for summary in logged_errors(bench):
        loud(summary)
        problems.append(summary)
    print(f"done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return measurements, problems, profile, bench.notes


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped, temp dir removed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        compared = revision.resolve(args.compare, ROOT) if args.compare else None
    except revision.BuildError as exc:
        loud(f"--compare: {exc}")
        return 2
    info = report.machine(command_line(argv))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with ExitStack() as stack:
        temp_dir = Path(tempfile.mkdtemp(prefix="lar-bench-"))
        if args.keep:
            print(f"keeping {temp_dir}", file=sys.stderr)
        else:
            stack.callback(shutil.rmtree, temp_dir, ignore_errors=True)
        try:
            measurements, problems, profile, started = run(args, temp_dir, stack, compared)
        except revision.BuildError as exc:
            hint = "" if args.keep else " (run with --keep to keep its log)"
            loud(f"could not build {compared.target if compared else 'the revision'}{hint}: {exc}")
            return 2
        except servers.ServerError as exc:
            hint = "" if args.keep else " (run with --keep to keep the logs)"
            loud(f"could not start the servers{hint}: {exc}")
            return 2
    section = report.render(info, measurements, notes(args, compared) + started, problems, profile)
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
