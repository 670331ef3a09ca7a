"""Memory and open files of process trees, from ``/proc`` (Linux only).

A tree's RSS is the sum of ``VmRSS`` over the process and its live descendants (the router's
supervisor and its workers): pages the processes share, such as the interpreter's, are counted
once per process, so compare a tree with itself (before, at the peak, after), not with another
tree. Its open files are the entries of ``/proc/<pid>/fd``, summed the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cpu import process_tree

_PROC = Path("/proc")


def rss_kb(pid: int) -> int:
    """``VmRSS`` of one process in KiB; 0 once it is gone (or for a kernel thread)."""
    try:
        text = (_PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_files(pid: int) -> int:
    """How many descriptors one process holds open; 0 once it is gone."""
    try:
        return len(os.listdir(_PROC / str(pid) / "fd"))
    except (FileNotFoundError, ProcessLookupError):
        return 0


@dataclass(frozen=True)
class Footprint:
    """A process tree at one moment: its processes, RSS (KiB) and open descriptors."""

    processes: int
    rss_kb: int
    open_files: int


def footprint(root: int) -> Footprint:
    """``root``'s tree now."""
    tree = process_tree(root)
    return Footprint(
        len(tree), sum(rss_kb(pid) for pid in tree), sum(open_files(pid) for pid in tree)
    )
