"""CPU time of process trees and of the whole machine, from ``/proc`` (Linux only).

A tree's time is the sum, over the process and every live descendant, of utime + stime (all of
its threads) + cutime + cstime (children it has already reaped, so none is counted twice).
The machine's busy time minus the benchmark's own processes is what everything else used:
other programs, and the hypervisor (steal). A run where that is large is not trustworthy.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields after the command name (field 3, ``state``, is index 0), or None if gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _parents() -> dict[int, int]:
    """Every live process's parent id."""
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def process_tree(root: int) -> list[int]:
    """``root`` and all of its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def _ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    if fields is None:
        return 0
    # utime, stime, cutime, cstime are fields 14-17 of the stat line.
    return sum(int(value) for value in fields[11:15])


def tree_cpu_us(root: int) -> float:
    """User + system CPU time used so far by ``root``'s process tree, in microseconds."""
    return sum(_ticks(pid) for pid in process_tree(root)) * _TICK_US


def machine_busy_us() -> float:
    """CPU time all CPUs were busy so far, steal included (``/proc/stat``).

    Interrupt time counts too: the loopback's network processing runs in softirq context and is
    partly charged to the processes that caused it, partly not.
    """
    fields = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    # user nice system idle iowait irq softirq steal
    busy = (int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return sum(busy) * _TICK_US


def reaped_children_us() -> float:
    """CPU time of this process's children that have exited and been waited for (wrk's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1e6


@dataclass(frozen=True)
class Snapshot:
    """CPU used so far (µs): by the target's tree, by all of the benchmark, by the machine."""

    target_us: float
    bench_us: float
    machine_us: float

    def __sub__(self, before: Snapshot) -> Snapshot:
        return Snapshot(
            self.target_us - before.target_us,
            self.bench_us - before.bench_us,
            self.machine_us - before.machine_us,
        )


def snapshot(target: int, others: Iterable[int]) -> Snapshot:
    """CPU of ``target``'s tree, of it with ``others``' trees and wrk, and of the machine."""
    target_us = tree_cpu_us(target)
    others_us = sum(tree_cpu_us(pid) for pid in set(others) - {target})
    machine_us = machine_busy_us()
    return Snapshot(target_us, target_us + others_us + reaped_children_us(), machine_us)
