"""Writing a refreshed login back into a Claude Code credentials file, and locking that file.

``write_rotated_login`` changes only the access token, the refresh token and the expiry; every
other key (``mcpOAuth``, ``scopes``, ``subscriptionType``, keys we have never heard of) stays as it
was. The file is replaced atomically (temp file in the same directory, fsync, rename, fsync of the
directory), so a reader (the router, a local ``claude``) sees the old login or the new one, never
half of each. It stays mode 0600 and, when we are allowed to, keeps its owner.

``host_lock`` serializes refreshes between processes on one host that share the file, whatever
store they use: an exclusive lock on ``<file>.lock`` beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from link_assistant_router.accounts.credentials import FLAT_TOKEN_FIELDS
from link_assistant_router.accounts.oauth import TokenGrant
from link_assistant_router.errors import RefreshUnavailable

__all__ = [
    "FILE_MODE",
    "HOST_LOCK_POLL_S",
    "HOST_LOCK_TIMEOUT_S",
    "NESTED_KEY",
    "host_lock",
    "lock_path",
    "write_rotated_login",
]

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl

log = logging.getLogger(__name__)

NESTED_KEY = "claudeAiOauth"
FILE_MODE = 0o600
HOST_LOCK_TIMEOUT_S = 30.0
HOST_LOCK_POLL_S = 0.05
_SECONDS_LIMIT = 1e11  # below this an expiry is in seconds, above it in milliseconds


def write_rotated_login(path: Path, grant: TokenGrant) -> None:
    """Put ``grant`` into the credentials file at ``path``, keeping everything else in it.

    Layouts: ``{"claudeAiOauth": {...}}`` gets ``accessToken``, ``refreshToken`` and ``expiresAt``
    (epoch milliseconds); a flat file (``accessToken`` / ``access_token`` / ``oauthToken`` /
    ``oauth_token`` at the top) has its fields updated in place, in its own naming style. A
    missing or unreadable file is replaced by a nested one: the pair in ``grant`` is the only
    working login left, since the old refresh token is spent. ``RefreshUnavailable`` if the file
    cannot be written.
    """
    document = _read_document(path)
    _apply(document, grant)
    data = json.dumps(document, indent=2).encode() + b"\n"
    try:
        _replace_atomically(path, data)
    except OSError as exc:
        raise RefreshUnavailable(
            f"cannot save the refreshed login to {path}: {exc.strerror or type(exc).__name__}"
        ) from exc


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        log.warning("%s disappeared before the refreshed login was saved; writing it anew", path)
        return {}
    except OSError as exc:
        raise RefreshUnavailable(
            f"cannot read {path} to save the refreshed login: {exc.strerror}"
        ) from exc
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if not isinstance(document, dict):
        log.warning("%s is not a JSON object; replacing it with the refreshed login", path)
        return {}
    return document


def _apply(document: dict[str, Any], grant: TokenGrant) -> None:
    nested = document.get(NESTED_KEY)
    flat_fields = [name for name in FLAT_TOKEN_FIELDS if isinstance(document.get(name), str)]
    if isinstance(nested, dict) or not flat_fields:
        login = nested if isinstance(nested, dict) else {}
        login["accessToken"] = grant.access_token
        login["refreshToken"] = grant.refresh_token
        login["expiresAt"] = _milliseconds(grant.expires_at)
        document[NESTED_KEY] = login
        return
    for name in flat_fields:
        document[name] = grant.access_token
    snake = flat_fields[0] in ("access_token", "oauth_token")
    refresh_field = _existing(document, "refreshToken", "refresh_token", snake)
    expiry_field = _existing(document, "expiresAt", "expires_at", snake)
    document[refresh_field] = grant.refresh_token
    previous = document.get(expiry_field)
    in_seconds = isinstance(previous, int | float) and 0 < previous < _SECONDS_LIMIT
    milliseconds = _milliseconds(grant.expires_at)
    document[expiry_field] = milliseconds // 1000 if in_seconds else milliseconds


def _existing(document: dict[str, Any], camel: str, snake_name: str, snake: bool) -> str:
    """The field name the file already uses, else the one matching its style."""
    if camel in document:
        return camel
    if snake_name in document:
        return snake_name
    return snake_name if snake else camel


def _milliseconds(epoch_seconds: float) -> int:
    return int(epoch_seconds * 1000)


def _replace_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    try:
        info = path.stat()
    except FileNotFoundError:
        owner = None
    else:
        owner = (info.st_uid, info.st_gid)
    # mkstemp creates the file with mode 0600, so the tokens are never readable by others.
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            if sys.platform != "win32":
                os.fchmod(temp.fileno(), FILE_MODE)
            _keep_owner(temp.fileno(), owner)
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(directory)


def _keep_owner(fd: int, owner: tuple[int, int] | None) -> None:
    # A router running as root must not leave a user's login owned by root (and so, at mode
    # 0600, unreadable for that user's `claude`).
    if owner is None or sys.platform == "win32":
        return
    if owner != (os.getuid(), os.getgid()):
        with contextlib.suppress(PermissionError):
            os.fchown(fd, *owner)


def _fsync_directory(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_path(path: Path) -> Path:
    """The lock file guarding the credentials file ``path``."""
    return path.with_name(path.name + ".lock")


@contextlib.asynccontextmanager
async def host_lock(
    path: Path, *, timeout_s: float = HOST_LOCK_TIMEOUT_S, poll_s: float = HOST_LOCK_POLL_S
) -> AsyncIterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (created mode 0600 if needed).

    Waits without blocking the event loop, polling every ``poll_s``; ``RefreshUnavailable`` when
    the lock is still taken after ``timeout_s`` or the lock file cannot be created (a read-only
    Claude Code home cannot be refreshed by us). The lock file is left in place: deleting it
    would let two processes lock two different files.
    """
    where = lock_path(path)
    try:
        fd = os.open(where, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise RefreshUnavailable(
            f"cannot create the lock file {where}: {exc.strerror}; the Claude Code home must be "
            "writable for the router to refresh its login"
        ) from exc
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not _try_lock(fd):
            if loop.time() >= deadline:
                raise RefreshUnavailable(
                    f"{where} is still locked after {timeout_s:g} s: another process on this "
                    "host is refreshing this login"
                )
            await asyncio.sleep(poll_s)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
