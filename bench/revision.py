"""The router as it was at another git revision, built into a venv of its own (``--compare``).

The revision's tree is exported with ``git archive`` into the run's temporary directory (the
repository, its index and its worktrees are left alone), and installed there, non-editable, with
pip into a new venv; both go when the temporary directory does. pip may fetch the revision's
dependencies and build backend from the package index. The dependencies are pinned to the
versions installed in this venv (``pip freeze`` as constraints), so that a comparison measures
the router's code and not a newer aiohttp.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rounds import ROUTER

_GIT_TIMEOUT_S = 60
_INSTALL_TIMEOUT_S = 900


class BuildError(RuntimeError):
    """The revision is unknown, or its tree could not be exported or installed."""


@dataclass(frozen=True)
class Revision:
    """A commit of this repository, as the user named it."""

    spec: str
    sha: str
    short: str
    subject: str

    @property
    def target(self) -> str:
        """The name of its router target in the report."""
        return f"{ROUTER}@{self.short}"


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{' '.join(command)}: {exc}") from exc
    if done.returncode != 0:
        shown = " ".join(command)
        raise BuildError(f"{shown} exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


def resolve(spec: str, repo: Path) -> Revision:
    """The commit ``spec`` names (a sha, a tag, ``HEAD~3``...)."""
    if not spec or spec.startswith("-"):
        raise BuildError(f"not a revision: {spec!r}")
    try:
        sha = _git(repo, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    except BuildError as exc:
        raise BuildError(f"{spec!r} names no commit in {repo}") from exc
    short, _, subject = _git(repo, "log", "-1", "--format=%h%x00%s", sha).partition("\0")
    return Revision(spec, sha, short, subject)


def describe_worktree(repo: Path) -> str:
    """What the current ``router`` target runs: HEAD, and whether the package (``src/``,
    ``pyproject.toml``) differs from it."""
    try:
        head = _git(repo, "log", "-1", "--format=%h", "HEAD")
        changed = _git(repo, "status", "--porcelain", "--", "src", "pyproject.toml")
    except BuildError:
        return "unknown (no git)"
    return f"`{head}`" + (", with uncommitted changes to the package" if changed else "")


def _run_logged(command: list[str], log: Path, timeout: int) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        try:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"{' '.join(command)}: {exc}; see {log}") from exc
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BuildError(f"{' '.join(command)} exited with {done.returncode}:\n{tail}")


def constraints(frozen: str) -> str:
    """``pip freeze`` output as a constraints file: named pins only (no editable installs, no
    direct URLs, not the router itself)."""
    kept = [
        line.strip()
        for line in frozen.splitlines()
        if "==" in line
        and " @ " not in line
        and not line.startswith(("-", "#"))
        and not line.lower().replace("_", "-").startswith("link-assistant-router")
    ]
    return "\n".join(kept) + "\n"


def _frozen() -> str:
    command = [sys.executable, "-m", "pip", "freeze", "--exclude-editable"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


@dataclass(frozen=True)
class Build:
    """A revision installed: its CLI, and whether its dependencies are this venv's versions."""

    executable: Path
    pinned: bool


def build(revision: Revision, repo: Path, directory: Path) -> Build:
    """Export ``revision`` into ``directory`` and install it into a venv there, its dependencies
    pinned to this venv's versions; unpinned if the revision cannot use them."""
    home = directory / f"build-{revision.short}"
    tree, venv, log = home / "tree", home / "venv", home / "build.log"
    tree.mkdir(parents=True)
    archive = home / "tree.tar"
    _git(repo, "archive", "--format=tar", f"--output={archive}", revision.sha)
    _run_logged(["tar", "-xf", str(archive), "-C", str(tree)], log, _GIT_TIMEOUT_S)
    archive.unlink()
    _run_logged([sys.executable, "-m", "venv", str(venv)], log, _GIT_TIMEOUT_S)
    pins = home / "constraints.txt"
    pins.write_text(constraints(_frozen()))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    pinned = True
    try:
        _run_logged(
            [*pip, "--quiet", "--constraint", str(pins), str(tree)], log, _INSTALL_TIMEOUT_S
        )
    except BuildError:
        pinned = False
        _run_logged([*pip, "--quiet", str(tree)], log, _INSTALL_TIMEOUT_S)
    executable = venv / "bin" / "link-assistant-router"
    if not executable.exists():
        raise BuildError(f"{revision.sha} installed no link-assistant-router script; see {log}")
    return Build(executable, pinned)
