"""Writing a rotated login back into a Claude Code credentials file, and the host lock beside it."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from link_assistant_router.accounts.credentials import parse_credentials
from link_assistant_router.accounts.credfile import host_lock, lock_path, write_rotated_login
from link_assistant_router.accounts.oauth import TokenGrant
from link_assistant_router.errors import RefreshUnavailable

EXPIRES_AT = 1_800_028_800.0
GRANT = TokenGrant(
    access_token="sk-ant-oat01-rotated-access",
    refresh_token="sk-ant-ort01-rotated-refresh",
    expires_at=EXPIRES_AT,
)
NESTED = {
    "claudeAiOauth": {
        "accessToken": "sk-ant-oat01-old-access",
        "refreshToken": "sk-ant-ort01-old-refresh",
        "expiresAt": 1_700_000_000_000,
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max",
        "rateLimitTier": "default_claude_max_20x",
        "someFutureField": {"nested": [1, 2, 3]},
    },
    "mcpOAuth": {"server-a": {"accessToken": "mcp-token-untouched", "expiresAt": 123}},
    "unknownTopLevel": True,
}


def write(path: Path, document: Any, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(document if isinstance(document, bytes) else json.dumps(document).encode())
    path.chmod(mode)
    return path


def read(path: Path) -> Any:
    return json.loads(path.read_bytes())


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_nested_login_gets_the_new_pair_and_keeps_every_other_key(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)

    write_rotated_login(path, GRANT)

    expected = json.loads(json.dumps(NESTED))
    expected["claudeAiOauth"].update(
        accessToken=GRANT.access_token,
        refreshToken=GRANT.refresh_token,
        expiresAt=1_800_028_800_000,
    )
    assert read(path) == expected
    assert isinstance(read(path)["claudeAiOauth"]["expiresAt"], int)
    assert list(read(path)) == list(NESTED)  # key order kept too
    assert mode_of(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".credentials.json"]
    credential = parse_credentials(path.read_bytes(), str(path))
    assert credential is not None
    assert (credential.token, credential.expires_at) == (GRANT.access_token, EXPIRES_AT)


def test_a_readable_file_becomes_mode_0600(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED, mode=0o644)

    write_rotated_login(path, GRANT)

    assert mode_of(path) == 0o600


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            {"accessToken": "old", "refreshToken": "old-r", "expiresAt": 1_700_000_000_000, "x": 1},
            {
                "accessToken": GRANT.access_token,
                "refreshToken": GRANT.refresh_token,
                "expiresAt": 1_800_028_800_000,
                "x": 1,
            },
        ),
        (
            {"access_token": "old", "refresh_token": "old-r", "expires_at": 1_700_000_000},
            {
                "access_token": GRANT.access_token,
                "refresh_token": GRANT.refresh_token,
                "expires_at": 1_800_028_800,
            },
        ),
        (
            {"oauth_token": "old", "note": "hand-written"},
            {
                "oauth_token": GRANT.access_token,
                "note": "hand-written",
                "refresh_token": GRANT.refresh_token,
                "expires_at": 1_800_028_800_000,
            },
        ),
        (
            {"oauthToken": "old", "accessToken": "old"},
            {
                "oauthToken": GRANT.access_token,
                "accessToken": GRANT.access_token,
                "refreshToken": GRANT.refresh_token,
                "expiresAt": 1_800_028_800_000,
            },
        ),
    ],
    ids=["camel-ms", "snake-seconds", "snake-no-refresh", "two-token-fields"],
)
def test_flat_layouts_are_updated_in_place(
    tmp_path: Path, before: dict[str, Any], after: dict[str, Any]
) -> None:
    path = write(tmp_path / "auth.json", before)

    write_rotated_login(path, GRANT)

    assert read(path) == after
    credential = parse_credentials(path.read_bytes(), str(path))
    assert credential is not None
    assert credential.token == GRANT.access_token
    assert credential.refresh_token == GRANT.refresh_token
    assert credential.expires_at == EXPIRES_AT


@pytest.mark.parametrize("content", [None, b"{torn", b"[]"], ids=["missing", "corrupt", "array"])
def test_a_missing_or_unreadable_file_is_replaced_by_the_new_login(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / ".credentials.json"
    if content is not None:
        write(path, content)

    write_rotated_login(path, GRANT)

    assert read(path) == {
        "claudeAiOauth": {
            "accessToken": GRANT.access_token,
            "refreshToken": GRANT.refresh_token,
            "expiresAt": 1_800_028_800_000,
        }
    }
    assert mode_of(path) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)
    before = path.read_bytes()

    def refuse(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)

    with pytest.raises(RefreshUnavailable, match="No space left") as caught:
        write_rotated_login(path, GRANT)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".credentials.json"]
    assert "sk-ant-" not in caught.value.message


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)
    seen: list[str] = []
    problems: list[Exception] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                seen.append(read(path)["claudeAiOauth"]["accessToken"])
            except Exception as exc:  # a torn read would be a JSON or key error
                problems.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for number in range(100):
            grant = TokenGrant(f"sk-ant-oat01-n{number}", f"sk-ant-ort01-n{number}", EXPIRES_AT)
            write_rotated_login(path, grant)
    finally:
        done.set()
        thread.join()

    assert problems == []
    assert seen
    assert sorted(p.name for p in tmp_path.iterdir()) == [".credentials.json"]


async def test_host_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)

    async with host_lock(path):
        with pytest.raises(RefreshUnavailable, match="still locked"):
            async with host_lock(path, timeout_s=0.1, poll_s=0.01):
                pytest.fail("two holders of one host lock")

    async with host_lock(path, timeout_s=0.1):
        pass
    assert mode_of(lock_path(path)) == 0o600
    assert lock_path(path).name == ".credentials.json.lock"


async def test_host_lock_waits_for_the_holder_without_blocking_the_loop(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)
    order: list[str] = []

    async def second() -> None:
        async with host_lock(path, poll_s=0.01):
            order.append("second")

    async with host_lock(path):
        waiter = asyncio.create_task(second())
        for _ in range(5):
            await asyncio.sleep(0.02)  # the loop keeps running while the waiter polls
        order.append("first")
    await waiter

    assert order == ["first", "second"]


async def test_host_lock_excludes_another_process(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n",
        str(lock_path(path)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        with pytest.raises(RefreshUnavailable):
            async with host_lock(path, timeout_s=0.2, poll_s=0.02):
                pytest.fail("the lock was taken while another process held it")
    finally:
        holder.stdin.close()
        await asyncio.wait_for(holder.wait(), 30)

    async with host_lock(path, timeout_s=5):
        pass


async def test_host_lock_in_a_missing_directory_explains_itself(tmp_path: Path) -> None:
    path = tmp_path / "no-such-home" / ".credentials.json"

    with pytest.raises(RefreshUnavailable, match="must be writable"):
        async with host_lock(path):
            pass


async def test_lock_file_is_left_for_the_next_holder(tmp_path: Path) -> None:
    path = write(tmp_path / ".credentials.json", NESTED)

    async with host_lock(path):
        pass

    assert lock_path(path).exists()
    assert lock_path(path).stat().st_size == 0
