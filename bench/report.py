"""The Markdown report: the machine, one row per run, the router against nginx and direct, the
targets, every problem seen; and its section in ``docs/benchmarks.md``."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from profiler import Profile
from wrk import WrkResult

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
CPU_TARGET_RATIO = 1.5
LATENCY_TARGET_US = 1000.0
TARGET_CASE = "sse"
# Above this share of a core used by other processes during a run, its numbers are suspect.
NOISY_OTHER_CPU = 0.25


@dataclass(frozen=True)
class Measurement:
    """One wrk run against one target, with the CPU the target spent per request."""

    case: str
    connections: int
    target: str
    result: WrkResult | None
    cpu_us_per_request: float | None
    other_cpu: float = 0.0  # CPU used by everything else on the machine, in cores
    failure: str = ""

    @property
    def problems(self) -> list[str]:
        if self.result is None:
            return [f"run failed: {self.failure}"]
        found = self.result.problems
        if self.other_cpu > NOISY_OTHER_CPU:
            found.append(
                f"other processes or steal used {self.other_cpu:.0%} of a core during the run"
            )
        return found


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


def machine(command: str) -> list[tuple[str, str]]:
    """What the numbers were measured on, and how to repeat them."""
    wrk_version = _first_line(["wrk", "-v"]).split(" Copyright")[0].strip()
    return [
        ("CPU", f"{_first_line(['nproc'])} x {_cpu_model()} (`nproc` x model)"),
        ("kernel", platform.release()),
        ("python", platform.python_version()),
        ("nginx", _first_line(["nginx", "-v"]).removeprefix("nginx version: ")),
        ("wrk", wrk_version),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("command", f"`{command}`"),
    ]


def _ms(us: float) -> str:
    ms = us / 1000
    return f"{ms:.2f} ms" if abs(ms) < 10 else f"{ms:.1f} ms"


def _signed_ms(us: float) -> str:
    return ("+" if us >= 0 else "-") + _ms(abs(us))


def _cpu(measurement: Measurement) -> str:
    if measurement.cpu_us_per_request is None:
        return "—"
    value = f"{measurement.cpu_us_per_request:,.0f}"
    return f"({value} upstream)" if measurement.target == "direct" else value


def results_table(measurements: list[Measurement]) -> str:
    rows = [
        "| case | conns | target | req/s | p50 | p99 | CPU µs/req | other CPU | problems |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in measurements:
        cells = f"| {m.case} | {m.connections} | {m.target} |"
        if m.result is None:
            rows.append(f"{cells} — | — | — | — | — | ⚠ failed |")
            continue
        problems = "⚠ " + ", ".join(m.problems) if m.problems else "none"
        rows.append(
            f"{cells} {m.result.requests_per_s:,.0f} | {_ms(m.result.p50_us)} | "
            f"{_ms(m.result.p99_us)} | {_cpu(m)} | {m.other_cpu:.0%} | {problems} |"
        )
    return "\n".join(rows)


def _find(measurements: list[Measurement], case: str, conns: int, target: str) -> WrkResult | None:
    for m in measurements:
        if (m.case, m.connections, m.target) == (case, conns, target):
            return m.result
    return None


def _cpu_of(measurements: list[Measurement], case: str, conns: int, target: str) -> float | None:
    for m in measurements:
        if (m.case, m.connections, m.target) == (case, conns, target) and m.result is not None:
            return m.cpu_us_per_request
    return None


@dataclass(frozen=True)
class Comparison:
    """The router against nginx (CPU) and against a direct connection (p50) for one cell."""

    case: str
    connections: int
    cpu_ratio: float | None
    router_added_p50_us: float | None
    nginx_added_p50_us: float | None


def compare(measurements: list[Measurement]) -> list[Comparison]:
    cells = dict.fromkeys((m.case, m.connections) for m in measurements)
    comparisons = []
    for case, conns in cells:
        router_cpu = _cpu_of(measurements, case, conns, "router")
        nginx_cpu = _cpu_of(measurements, case, conns, "nginx")
        direct = _find(measurements, case, conns, "direct")
        router = _find(measurements, case, conns, "router")
        nginx = _find(measurements, case, conns, "nginx")
        comparisons.append(
            Comparison(
                case,
                conns,
                router_cpu / nginx_cpu if router_cpu and nginx_cpu else None,
                router.p50_us - direct.p50_us if router and direct else None,
                nginx.p50_us - direct.p50_us if nginx and direct else None,
            )
        )
    return comparisons


def _or_dash(value: float | None, fmt: str, suffix: str = "") -> str:
    return "—" if value is None else format(value, fmt) + suffix


def comparison_table(comparisons: list[Comparison]) -> str:
    rows = [
        "| case | conns | router CPU/req ÷ nginx | router p50 - direct | nginx p50 - direct |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in comparisons:
        router_p50 = "—" if c.router_added_p50_us is None else _signed_ms(c.router_added_p50_us)
        nginx_p50 = "—" if c.nginx_added_p50_us is None else _signed_ms(c.nginx_added_p50_us)
        rows.append(
            f"| {c.case} | {c.connections} | {_or_dash(c.cpu_ratio, '.2f', 'x')} | "
            f"{router_p50} | {nginx_p50} |"
        )
    return "\n".join(rows)


def _conns(count: int) -> str:
    return f"{count} connection" + ("" if count == 1 else "s")


def verdicts(comparisons: list[Comparison]) -> list[str]:
    """The targets, checked on the ``sse`` case."""
    lines = []
    for c in comparisons:
        if c.case != TARGET_CASE:
            continue
        if c.cpu_ratio is not None:
            met = "met" if c.cpu_ratio <= CPU_TARGET_RATIO else "**missed**"
            lines.append(
                f"- {c.case}, {_conns(c.connections)}: router CPU/request "
                f"{c.cpu_ratio:.2f}x nginx (target ≤ {CPU_TARGET_RATIO}x): {met}"
            )
        if c.connections == 1 and c.router_added_p50_us is not None:
            met = "met" if c.router_added_p50_us <= LATENCY_TARGET_US else "**missed**"
            lines.append(
                f"- {c.case}, 1 connection: router adds {_signed_ms(c.router_added_p50_us)} "
                f"to p50 over direct (target ≤ {_ms(LATENCY_TARGET_US)}): {met}"
            )
    return lines or ["- not checked: needs the sse case with the router, nginx and direct targets"]


def profile_section(
    profile: Profile, requests_per_s: float, case: str, connections: int, count: int = 15
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
    comparisons = compare(measurements)
    parts = [
        "### Machine and command",
        "",
        *[f"- {name}: {value}" for name, value in info],
        *[f"- {note}" for note in notes],
        "",
        "### Results",
        "",
        results_table(measurements),
        "",
        "### Router against nginx and direct",
        "",
        comparison_table(comparisons),
        "",
        "### Targets",
        "",
        *verdicts(comparisons),
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


def write_docs(path: Path, section: str) -> None:
    """Replace the text between the markers in ``path``; create the file if it is absent."""
    block = f"{START}\n{section}{END}"
    if not path.exists():
        intro = (Path(__file__).resolve().parent / "docs_intro.md").read_text(encoding="utf-8")
        path.write_text(intro + block + "\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n## Latest results\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
