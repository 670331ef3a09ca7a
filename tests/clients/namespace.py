"""Running a client's test run (a module of ``tests.clients``) in a process of its own, inside a
fresh network namespace where this machine allows one (root): there, only loopback exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from typing import Any

import orjson

from tests.clients.codex import ROOT


@cache
def isolated() -> bool:
    """Whether runs get a network namespace of their own (root, with unshare and iproute2)."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def run_module(module: str, *args: str) -> dict[str, Any]:
    """``python -m module BINARY ... MODE ...``'s JSON report; ``{mode}`` in ``args`` becomes
    ``isolated`` or ``shared``."""
    mode = "isolated" if isolated() else "shared"
    command = [sys.executable, "-m", module, *(mode if arg == "{mode}" else arg for arg in args)]
    if isolated():
        command = ["unshare", "-n", *command]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result
