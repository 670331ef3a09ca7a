"""The Markdown report: the machine, each target's medians over the rounds, the ratios between
targets round by round, the targets checked on the medians, every problem seen; and its section
in ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from profiler import Profile
from rounds import (
    ROUTER,
    Measurement,
    Series,
    Spread,
    Summary,
    added_p50,
    cpu_ratios,
    is_router,
    round_count,
    summarize,
    targets_of,
)

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
FLOOR = "aiohttp"  # the bare aiohttp pass-through: what a Python proxy on this stack costs
DIRECT = "direct"
LOADED_CONNECTIONS = 16
# The targets (issue 16), checked on the medians of the interleaved rounds: the router's CPU per
# request over the floor's, at 16 connections, per case;
FLOOR_TARGET_RATIOS = {"sse": 1.15, "json": 1.3}
# the translated stream's CPU per request over the router's own sse relay, at 16 connections;
CHAT_TARGET_RATIO = 1.4
# what the router adds to p50 over a direct connection, on sse at 1 connection.
LATENCY_TARGET_US = 300.0
LATENCY_CASE = "sse"


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match[1].strip() if match else platform.processor() or "unknown"


def host(command: str) -> list[tuple[str, str]]:
    """The machine, the date and the command: enough to repeat a scenario that needs no tools
    beyond Python."""
    return [
        ("CPU", f"{_first_line(['nproc'])} x {_cpu_model()} (`nproc` x model)"),
        ("kernel", platform.release()),
        ("python", platform.python_version()),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("command", f"`{command}`"),
    ]


def machine(command: str) -> list[tuple[str, str]]:
    """What the numbers were measured on, and how to repeat them."""
    wrk_version = _first_line(["wrk", "-v"]).split(" Copyright")[0].strip()
    found = host(command)
    found[3:3] = [
        ("nginx", _first_line(["nginx", "-v"]).removeprefix("nginx version: ")),
        ("wrk", wrk_version),
    ]
    return found


def _ms(us: float) -> str:
    ms = us / 1000
    return f"{ms:.2f} ms" if abs(ms) < 10 else f"{ms:.1f} ms"


def _signed_ms(us: float) -> str:
    return ("+" if us >= 0 else "-") + _ms(abs(us))


def _times(value: float) -> str:
    return f"{value:.2f}x"


def _us(value: float) -> str:
    return f"{value:,.0f}"


def _median(value: Spread | None, fmt: Callable[[float], str]) -> str:
    return "—" if value is None else fmt(value.median)


def _range(value: Spread | None, fmt: Callable[[float], str]) -> str:
    return "—" if value is None else f"{fmt(value.low)} to {fmt(value.high)}"


def _conns(count: int) -> str:
    return f"{count} connection" + ("" if count == 1 else "s")


def _cpu_cell(summary: Summary) -> str:
    value = _median(summary.cpu_us, _us)
    return f"({value} upstream)" if summary.target == DIRECT and summary.cpu_us else value


def results_table(summaries: Sequence[Summary]) -> str:
    """One row per case, connection count and target: medians over the rounds, and the CPU's
    range."""
    rows = [
        "| case | conns | target | runs | req/s | p50 | p99 | CPU µs/req | CPU min-max | "
        "other CPU | problems |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in summaries:
        problems = "none"
        if s.problems:
            numbers = ", ".join(str(number) for number in s.problem_rounds)
            plural = "s" if len(s.problem_rounds) > 1 else ""
            problems = f"⚠ round{plural} {numbers}: see Problems"
        cpu_range = "—" if s.cpu_us is None else f"{_us(s.cpu_us.low)}-{_us(s.cpu_us.high)}"
        rows.append(
            f"| {s.case} | {s.connections} | {s.target} | {s.runs} | "
            f"{_median(s.requests_per_s, _us)} | {_median(s.p50_us, _ms)} | "
            f"{_median(s.p99_us, _ms)} | {_cpu_cell(s)} | {cpu_range} | {s.other_cpu:.0%} | "
            f"{problems} |"
        )
    return "\n".join(rows)


def series_table(
    series: Sequence[Series],
    rounds: int,
    fmt: Callable[[float], str],
    column: str,
    missing: str,
) -> str:
    """One row per series (named in ``column``): its value in each round, the median, the range
    and the range as a share of the median; or ``missing``, said, when there is none."""
    if not series:
        return f"- none: {missing}"
    numbers = range(1, rounds + 1)
    rows = [
        f"| case | conns | {column} | "
        + "".join(f"r{n} | " for n in numbers)
        + "median | min-max | range |",
        "|---|---:|---|" + "---:|" * (rounds + 3),
    ]
    for item in series:
        values = "".join(("—" if v is None else fmt(v)) + " | " for v in item.values)
        spread = item.spread
        share = "—" if spread is None else f"{spread.relative:.0%}"
        rows.append(
            f"| {item.case} | {item.connections} | {item.label} | {values}"
            f"{_median(spread, fmt)} | {_range(spread, fmt)} | {share} |"
        )
    return "\n".join(rows)


def ratio_series(measurements: Sequence[Measurement]) -> list[Series]:
    """The CPU ratios worth a row: the router against each other revision of it, then every
    router against the floor and against nginx."""
    targets = targets_of(measurements)
    routers = [target for target in targets if is_router(target)]
    found = []
    if ROUTER in routers:
        for other in routers:
            if other != ROUTER:
                found += cpu_ratios(measurements, ROUTER, other)
    for against in (FLOOR, "nginx"):
        if against in targets:
            for router in routers:
                found += cpu_ratios(measurements, router, against)
    return found


def latency_series(measurements: Sequence[Measurement]) -> list[Series]:
    """What each proxy adds to p50 over a direct connection, round by round."""
    targets = targets_of(measurements)
    if DIRECT not in targets:
        return []
    return [
        series
        for target in targets
        if target != DIRECT
        for series in added_p50(measurements, target, DIRECT)
    ]


def median_floor_ratio(
    measurements: Sequence[Measurement], case: str, connections: int
) -> float | None:
    """The median of router ÷ floor over the rounds of ``case`` at ``connections``."""
    found = _find(cpu_ratios(measurements, ROUTER, FLOOR), case, connections)
    return None if found is None else found.median


def _find(series: Sequence[Series], case: str, connections: int) -> Spread | None:
    for item in series:
        if (item.case, item.connections) == (case, connections):
            return item.spread
    return None


def _cpu_median(summaries: Sequence[Summary], case: str, connections: int) -> float | None:
    for s in summaries:
        if (s.case, s.connections, s.target) == (case, connections, ROUTER) and s.cpu_us:
            return s.cpu_us.median
    return None


def _met(met: bool) -> str:
    return "met" if met else "**missed**"


def verdicts(measurements: Sequence[Measurement]) -> list[str]:
    """The targets, checked on the medians of the rounds."""
    lines = []
    loaded = _conns(LOADED_CONNECTIONS)
    floor_ratios = cpu_ratios(measurements, ROUTER, FLOOR)
    for case, limit in FLOOR_TARGET_RATIOS.items():
        found = _find(floor_ratios, case, LOADED_CONNECTIONS)
        if found is None:
            lines.append(
                f"- {case}, {loaded}: not checked (needs the {case} case at {loaded} "
                f"with the {ROUTER} and {FLOOR} targets)"
            )
            continue
        lines.append(
            f"- {case}, {loaded}: router CPU/request {_times(found.median)} the floor "
            f"({FLOOR}), median of {found.count} rounds ({_range(found, _times)}); "
            f"target ≤ {limit}x: {_met(found.median <= limit)}"
        )
    summaries = summarize(measurements)
    chat = _cpu_median(summaries, "chat", LOADED_CONNECTIONS)
    sse = _cpu_median(summaries, "sse", LOADED_CONNECTIONS)
    if chat is None or sse is None:
        lines.append(
            f"- chat, {loaded}: not checked (needs the chat and sse cases at {loaded} "
            f"with the {ROUTER} target)"
        )
    else:
        ratio = chat / sse
        lines.append(
            f"- chat, {loaded}: router CPU/request {_times(ratio)} its own sse relay "
            f"(medians {_us(chat)} ÷ {_us(sse)} µs; the two cases run one after the other, "
            f"not interleaved); target ≤ {CHAT_TARGET_RATIO}x: {_met(ratio <= CHAT_TARGET_RATIO)}"
        )
    added = _find(added_p50(measurements, ROUTER, DIRECT), LATENCY_CASE, 1)
    if added is None:
        lines.append(
            f"- {LATENCY_CASE}, 1 connection: not checked (needs the {LATENCY_CASE} case at "
            f"1 connection with the {ROUTER} and {DIRECT} targets)"
        )
    else:
        lines.append(
            f"- {LATENCY_CASE}, 1 connection: router adds {_signed_ms(added.median)} to p50 "
            f"over direct, median of {added.count} rounds "
            f"({_range(added, _signed_ms)}); target ≤ {_ms(LATENCY_TARGET_US)}: "
            f"{_met(added.median <= LATENCY_TARGET_US)}"
        )
    return lines


OWN_CODE = ("router", "store")  # the owners (profiler.OWNERS) a change to the router can shrink


def owner_lines(profile: Profile, floor_ratio: float | None) -> list[str]:
    """The leaf samples per owner, and how low router ÷ floor could go were the router's own
    code and its store free: the ratio's median scaled by the share left to the stack."""
    owners = profile.owners()
    lines = ["| owner | own |", "|---|---:|"]
    lines += [f"| {name} | {n / profile.samples:.1%} |" for name, n in owners.most_common()]
    own = sum(owners[name] for name in OWN_CODE) / profile.samples
    if floor_ratio is None:
        return lines
    return [
        *lines,
        "",
        f"Were the router's own code and its store free (their {own:.1%} gone), the router "
        f"would still spend {_times(floor_ratio * (1 - own))} the floor's CPU here "
        f"({_times(floor_ratio)}, the rounds' median, x {1 - own:.1%}): the lowest any change "
        "to the router's Python can reach while the stack costs what it does.",
    ]


def profile_section(
    profile: Profile,
    requests_per_s: float,
    case: str,
    connections: int,
    count: int = 15,
    floor_ratio: float | None = None,
) -> str:
    def table(rows: list[tuple[str, int, int]]) -> list[str]:
        lines = ["| function | own | inclusive |", "|---|---:|---:|"]
        for name, own, inclusive in rows:
            lines.append(
                f"| `{name}` | {own / profile.samples:.1%} | {inclusive / profile.samples:.1%} |"
            )
        return lines

    return "\n".join(
        [
            f"### Profile: router, {case}, {connections} conns "
            f"({profile.samples:,} samples holding the GIL, "
            f"{requests_per_s:,.0f} req/s under py-spy)",
            "",
            f"Top {count} functions by own time (C called with the GIL held, such as socket "
            "writes, is charged to its Python caller):",
            "",
            *table(profile.top(count)),
            "",
            f"Top {count} router functions by inclusive time (entry points left out):",
            "",
            *table(profile.top_inclusive(count, "link_assistant_router")),
            "",
            "Own time by owner (the router's code, its store, the HTTP stack, the event loop):",
            "",
            *owner_lines(profile, floor_ratio),
        ]
    )


def render(
    info: list[tuple[str, str]],
    measurements: list[Measurement],
    notes: list[str],
    problems: list[str],
    profile: str,
) -> str:
    """The whole report, as it goes between the markers."""
    rounds = round_count(measurements)
    parts = [
        "### Machine and command",
        "",
        *[f"- {name}: {value}" for name, value in info],
        *[f"- {note}" for note in notes],
        "",
        f"### Results (medians of {rounds} round{'' if rounds == 1 else 's'})",
        "",
        results_table(summarize(measurements)),
        "",
        f"### CPU per request, ratios per round (floor: {FLOOR})",
        "",
        series_table(
            ratio_series(measurements),
            rounds,
            _times,
            "ratio",
            f"needs a router target and the {FLOOR} or nginx target",
        ),
        "",
        "### p50 added over direct, per round",
        "",
        series_table(
            latency_series(measurements),
            rounds,
            _signed_ms,
            "difference",
            f"needs the {DIRECT} target",
        ),
        "",
        "### Targets",
        "",
        *verdicts(measurements),
        "",
        "### Problems",
        "",
        *(
            [f"- ⚠ {problem}" for problem in problems]
            or ["- none: every response was 2xx, no socket errors, no errors in the logs"]
        ),
    ]
    if profile:
        parts += ["", profile]
    return "\n".join(parts) + "\n"


def write_docs(
    path: Path,
    section: str,
    start: str = START,
    end: str = END,
    heading: str = "## Latest results",
) -> None:
    """Replace the text between the markers ``start`` and ``end`` in ``path`` (by default
    bench/run.py's), leaving the rest as it is; without the markers, append them under
    ``heading``. Create the file if it is absent."""
    block = f"{start}\n{section}{end}"
    if not path.exists():
        intro = (Path(__file__).resolve().parent / "docs_intro.md").read_text(encoding="utf-8")
        if start != START:
            intro += f"{heading}\n\n"
        path.write_text(intro + block + "\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if start in text and end in text.split(start, 1)[1]:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
