"""Sampling the router with py-spy while a load runs, and where its time went.

py-spy writes collapsed stacks (``--format raw``: ``frame;frame;...;leaf count`` per line). A
function's *own* time is the samples in which it is the leaf frame; its *inclusive* time is the
samples in which it appears anywhere in the stack. Only samples in which a thread holds the GIL
are kept (``--gil``): the loop waiting in epoll and threads parked on a queue (aiosqlite's) are
left out, so the shares are of the time the router spends working. Without ``--native``, C code
called with the GIL held (uvloop's socket writes, the HTTP parser) is charged to its Python caller.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from servers import VENV_BIN, ServerError, tool

T = TypeVar("T")
_ATTACH_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 30.0
_ENTRY_POINT_SHARE = 0.95
# Who a leaf frame belongs to, by the first folder of its file: the router's own code, the store
# it drives (SQLAlchemy and the drivers under it), the HTTP stack, the event loop.
OWNERS = {
    "link_assistant_router": "router",
    "sqlalchemy": "store",
    "aiosqlite": "store",
    "asyncpg": "store",
    "aiohttp": "aiohttp",
    "multidict": "aiohttp",
    "yarl": "aiohttp",
    "propcache": "aiohttp",
    "asyncio": "event loop",
    "uvloop": "event loop",
}
OTHER = "other"


def owner(frame: str) -> str:
    """Who ``frame`` (``function (folder/file.py)``, as py-spy names it) belongs to."""
    _, _, where = frame.rpartition(" (")
    return OWNERS.get(where.split("/", 1)[0], OTHER)


class ProfilerError(RuntimeError):
    """py-spy is missing, could not attach (ptrace), or wrote no samples."""


@dataclass(frozen=True)
class Profile:
    samples: int
    own: Counter[str]
    inclusive: Counter[str]

    def top(self, count: int) -> list[tuple[str, int, int]]:
        """The ``count`` functions with the most own samples: (function, own, inclusive)."""
        return [(name, own, self.inclusive[name]) for name, own in self.own.most_common(count)]

    def top_inclusive(self, count: int, marker: str) -> list[tuple[str, int, int]]:
        """The functions whose name contains ``marker``, by inclusive samples, leaving out the
        entry points that are in (nearly) every stack."""
        ranked = [
            (name, n)
            for name, n in self.inclusive.most_common()
            if marker in name and n < _ENTRY_POINT_SHARE * self.samples
        ]
        return [(name, self.own[name], n) for name, n in ranked[:count]]

    def owners(self) -> Counter[str]:
        """Own (leaf) samples per owner (``OWNERS``): where the working time was spent, with
        the C each calls charged to it."""
        counts: Counter[str] = Counter()
        for frame, n in self.own.items():
            counts[owner(frame)] += n
        return counts


def parse_collapsed(text: str) -> Profile:
    """Count own and inclusive samples per frame in py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [
            frame for frame in stack.split(";") if not frame.startswith(("process ", "thread "))
        ]
        if not frames:
            continue
        weight = int(count)
        samples += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            inclusive[frame] += weight
    return Profile(samples, own, inclusive)


def ensure_py_spy() -> str:
    """py-spy's path; installed into this venv with pip when it is missing."""
    try:
        return tool("py-spy")
    except ServerError:
        print("py-spy is missing: pip install py-spy (into this venv)", file=sys.stderr)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "py-spy"]
        subprocess.run(command, check=True, timeout=600)
        return str(VENV_BIN / "py-spy")


def _wait_attached(spy: subprocess.Popen[bytes], log: Path, pid: int) -> None:
    deadline = time.monotonic() + _ATTACH_TIMEOUT_S
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace").split("Stack backtrace:")[0]
        if "Sampling process" in output:
            return
        if spy.poll() is not None:
            hint = ""
            if any(word in output for word in ("ermission", "not permitted", "ptrace")):
                hint = " (ptrace is not permitted here: needs CAP_SYS_PTRACE or ptrace_scope 0)"
            raise ProfilerError(f"py-spy could not attach to pid {pid}{hint}:\n{output.strip()}")
        time.sleep(0.1)
    raise ProfilerError(f"py-spy did not start sampling pid {pid} within {_ATTACH_TIMEOUT_S:g} s")


def _stop(spy: subprocess.Popen[bytes]) -> None:
    if spy.poll() is not None:
        return
    spy.send_signal(signal.SIGINT)  # py-spy writes its output on Control-C
    try:
        spy.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(_STOP_TIMEOUT_S)


def record(pid: int, directory: Path, load: Callable[[], T], rate: int = 200) -> tuple[Profile, T]:
    """Sample ``pid`` (and its subprocesses) while ``load()`` runs."""
    raw, log = directory / "py-spy.txt", directory / "py-spy.log"
    command = [ensure_py_spy(), "record", "--pid", str(pid), "--subprocesses", "--gil"]
    command += ["--nolineno", "--rate", str(rate), "--format", "raw", "--output", str(raw)]
    with log.open("wb") as out:
        spy = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_attached(spy, log, pid)
        result = load()
    finally:
        _stop(spy)
    if not raw.exists():
        raise ProfilerError(f"py-spy wrote no samples:\n{log.read_text(errors='replace')}")
    return parse_collapsed(raw.read_text(errors="replace")), result
