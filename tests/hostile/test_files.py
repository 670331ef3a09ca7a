"""What the router keeps on disk is private to its user."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from link_assistant_router.config import Settings
from link_assistant_router.server import warn_if_readable
from link_assistant_router.storage.sql import open_store
from tests.hostile.conftest import ServedRouter


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_store_and_data_dir_are_created_private(served: ServedRouter) -> None:
    data = Path(served.env["DATA_DIR"])
    assert mode(data) == 0o700
    assert mode(data / "router.db") == 0o600
    for extra in ("router.db-wal", "router.db-shm"):
        if (data / extra).exists():
            assert mode(data / extra) & 0o077 == 0


async def test_a_store_opened_in_an_open_directory_is_still_private(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)  # noqa: S103 (an open directory, on purpose)
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/router.db")
    await store.open()
    await store.close()
    assert mode(tmp_path / "router.db") == 0o600


def test_a_data_dir_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "token_secret").write_text("x" * 40)
    (data / "token_secret").chmod(0o644)
    settings = Settings(_env_file=None, data_dir=data, token_secret="s" * 40)  # type: ignore[call-arg]
    with caplog.at_level(logging.WARNING):
        found = warn_if_readable(settings)
    assert len(found) == 2
    assert "chmod 700" in found[0] and "chmod 600" in found[1]
    data.chmod(0o700)
    (data / "token_secret").chmod(0o600)
    assert warn_if_readable(settings) == []
