"""Running ``wrk`` (one thread, a Lua script that POSTs a body file) and reading its report."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "post.lua"
_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = r"^\s+{}%\s+([\d.]+)(us|ms|s|m|h)"
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


class WrkError(RuntimeError):
    """wrk failed or printed a report this module cannot read."""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_us: float
    p99_us: float
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Human-readable failures (non-2xx responses, socket errors); empty when clean."""
        found = [f"{self.non_2xx} non-2xx responses"] if self.non_2xx else []
        found += [f"{count} socket {kind} errors" for kind, count in self.socket_errors.items()]
        return found


def _duration_us(value: str, unit: str) -> float:
    return float(value) * _UNITS_US[unit]


def _percentile_us(output: str, percent: int) -> float:
    match = re.search(_PERCENTILE.format(percent), output, re.MULTILINE)
    if match is None:
        raise WrkError(f"no {percent}% latency in wrk's output:\n{output}")
    return _duration_us(match[1], match[2])


def parse(output: str) -> WrkResult:
    """Read the report wrk prints with ``--latency``."""
    requests, rps = _REQUESTS.search(output), _RPS.search(output)
    if requests is None or rps is None:
        raise WrkError(f"cannot read wrk's output:\n{output}")
    errors = _SOCKET_ERRORS.search(output)
    kinds = ("connect", "read", "write", "timeout")
    socket_errors = {kind: int(errors[i + 1]) for i, kind in enumerate(kinds)} if errors else {}
    non_2xx = _NON_2XX.search(output)
    return WrkResult(
        requests=int(requests[1]),
        duration_s=_duration_us(requests[2], requests[3]) / 1e6,
        requests_per_s=float(rps[1]),
        p50_us=_percentile_us(output, 50),
        p99_us=_percentile_us(output, 99),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors={kind: count for kind, count in socket_errors.items() if count},
    )


@dataclass(frozen=True)
class Load:
    """One wrk run's parameters: where, what body, which headers, how hard, how long."""

    url: str
    body: Path
    connections: int
    duration_s: int
    api_key: str = ""
    anthropic_beta: str = ""
    path: str = "/v1/messages"
    timeout_s: int = 10


def run(load: Load) -> WrkResult:
    """Run wrk for ``load.duration_s`` seconds; it stops by itself (and is killed if it hangs)."""
    command = [
        "wrk",
        "-t1",
        f"-c{load.connections}",
        f"-d{load.duration_s}s",
        f"--timeout={load.timeout_s}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        load.url,
    ]
    env = {
        **os.environ,
        "BENCH_BODY": str(load.body),
        "BENCH_API_KEY": load.api_key,
        "BENCH_ANTHROPIC_BETA": load.anthropic_beta,
        "BENCH_PATH": load.path,
    }
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=load.duration_s + load.timeout_s + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not stop: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return parse(done.stdout)
