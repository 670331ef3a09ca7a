"""Where ledger rows wait on local disk while the store is away too long for memory.

One file per process, ``<dir>/<holder>.jsonl`` (one JSON array per row), locked by its process
while it lives. Rows are appended at its end and taken from its start (an offset kept beside
it), so a crash loses nothing written. A process starting finds the files of processes that
died (their lock is free), claims them and sends their rows on. Past ``max_bytes`` a file takes
no more rows: those are counted as dropped, never silently lost.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

__all__ = ["SpillFile"]

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"


class SpillFile:
    """A process's spill file, and the orphaned ones it adopted."""

    def __init__(self, directory: Path, holder: str, max_bytes: int) -> None:
        self._directory = directory
        self._name = "".join(c if c.isalnum() or c in "-_." else "_" for c in holder)
        self._max_bytes = max_bytes
        self._files: list[Path] = []  # oldest first: adopted files, then this process's own
        self._handles: dict[Path, int] = {}  # locked descriptors, held while the file exists
        self._offsets: dict[Path, int] = {}
        self.rows = 0  # rows waiting in the files (as far as this process knows)

    @property
    def own(self) -> Path:
        return self._directory / (self._name + _SUFFIX)

    def adopt_orphans(self) -> int:
        """Claim the files of processes that are gone; the number of rows they hold."""
        if not self._directory.is_dir():
            return 0
        found = 0
        for path in sorted(self._directory.glob("*" + _SUFFIX)):
            if path == self.own or path in self._handles:
                continue
            descriptor = self._lock(path)
            if descriptor is None:
                continue  # its process is alive
            self._handles[path] = descriptor
            self._offsets[path] = _read_offset(path)
            count = _count_rows(path, self._offsets[path])
            if count:
                self._files.insert(0, path)
                found += count
            else:
                self._remove(path)
        self.rows += found
        if found:
            log.warning("usage ledger: %d row(s) left on disk by a stopped process adopted", found)
        return found

    def append(self, rows: Sequence[Sequence[Any]]) -> int:
        """Add rows at the end; returns how many did not fit (dropped)."""
        path = self.own
        if path not in self._handles:
            self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._handles[path] = descriptor
            self._offsets[path] = _read_offset(path)
            self._files.append(path)
        size = os.fstat(self._handles[path]).st_size
        lines = [orjson.dumps(list(row)) + b"\n" for row in rows]
        kept = 0
        for line in lines:
            if size + len(line) > self._max_bytes:
                break
            size += len(line)
            kept += 1
        if kept:
            os.write(self._handles[path], b"".join(lines[:kept]))
        self.rows += kept
        return len(lines) - kept

    def take(self, limit: int) -> tuple[list[list[Any]], Path | None, int]:
        """Up to ``limit`` of the oldest rows, the file they came from and the offset after
        them (pass both to ``taken`` once they are written)."""
        for path in self._files:
            offset = self._offsets[path]
            with path.open("rb") as handle:
                handle.seek(offset)
                rows: list[list[Any]] = []
                end = offset
                for line in handle:
                    if len(rows) >= limit:
                        break
                    end += len(line)
                    if line.strip():
                        try:
                            rows.append(orjson.loads(line))
                        except orjson.JSONDecodeError:
                            log.error("usage ledger: an unreadable line in %s skipped", path)
            if rows or end > offset:
                return rows, path, end
            self._finish(path)
        return [], None, 0

    def taken(self, path: Path, offset: int, count: int) -> None:
        """The rows before ``offset`` are in the store: never send them again."""
        self._offsets[path] = offset
        _write_offset(path, offset)
        self.rows = max(0, self.rows - count)
        if offset >= path.stat().st_size:
            self._finish(path)

    def _finish(self, path: Path) -> None:
        if path in self._files:
            self._files.remove(path)
        self._remove(path)

    def _remove(self, path: Path) -> None:
        for stale in (path, _offset_path(path)):
            stale.unlink(missing_ok=True)
        descriptor = self._handles.pop(path, None)
        if descriptor is not None:
            os.close(descriptor)
        self._offsets.pop(path, None)

    def close(self) -> None:
        for descriptor in self._handles.values():
            os.close(descriptor)
        self._handles.clear()

    @staticmethod
    def _lock(path: Path) -> int | None:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return descriptor


def _offset_path(path: Path) -> Path:
    return path.with_suffix(".offset")


def _read_offset(path: Path) -> int:
    try:
        return int(_offset_path(path).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _write_offset(path: Path, offset: int) -> None:
    temporary = _offset_path(path).with_suffix(".offset.tmp")
    temporary.write_text(str(offset))
    os.replace(temporary, _offset_path(path))


def _count_rows(path: Path, offset: int) -> int:
    with path.open("rb") as handle:
        handle.seek(offset)
        return sum(1 for line in handle if line.strip())
