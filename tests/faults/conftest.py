"""A PostgreSQL of the test's own (never the shared one), which a test can stop, start, freeze
and thaw under the router's feet; and a router run as ``serve`` against it."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import orjson
import pytest

from tests.conftest import OAUTH_TOKEN, run_cli
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PrivatePostgres:
    """One cluster in a temporary directory, on its own port, trust auth."""

    bin: Path
    data: Path
    port: int
    user: str | None  # who runs it (PostgreSQL will not run as root)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/router"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.data / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *map(int, children)]

    def freeze(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _binaries()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("no PostgreSQL server binaries here to start a private cluster with")
    user = "postgres" if os.geteuid() == 0 else None
    data = Path(tempfile.mkdtemp(prefix="lar-pg-"))
    if user is not None:
        shutil.chown(data, user)
    cluster = PrivatePostgres(bin_dir, data, free_port(), user)
    cluster._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    cluster.start()
    asyncio.run(_create_database(cluster.port))
    try:
        yield cluster
    finally:
        with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
            cluster.thaw()
        subprocess.run(
            ["runuser", "-u", user, "--"] * (user is not None)
            + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


async def _create_database(port: int) -> None:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    try:
        await connection.execute('CREATE DATABASE "router"')
    finally:
        await connection.close()


@dataclass
class Served:
    url: str
    admin_url: str
    env: dict[str, str]
    cwd: Path
    process: asyncio.subprocess.Process

    async def issue(self, *options: str) -> str:
        code, out, err = await run_cli(self.env, self.cwd, "tokens", "issue", "--json", *options)
        assert code == 0, err
        token: str = orjson.loads(out)["token"]
        return token


@pytest.fixture
async def serve_on(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> AsyncIterator[object]:
    """``await serve_on(database_url, **env)``: a ``serve`` process on that store."""
    processes: list[asyncio.subprocess.Process] = []
    drains: list[asyncio.Task[None]] = []
    logs: list[bytes] = []

    async def start(database_url: str, **extra: str) -> Served:
        port, admin = free_port(), free_port()
        env = {
            **cli_env,
            "DATABASE_URL": database_url,
            "UPSTREAM_BASE_URL": fake_upstream.url,
            "UPSTREAM_OAUTH_TOKEN": OAUTH_TOKEN,
            "ROUTER_HOST": "127.0.0.1",
            "ROUTER_PORT": str(port),
            "ADMIN_PORT": str(admin),
            **extra,
        }
        process = await start_serve(env, tmp_path)
        processes.append(process)
        # Its log is read as it comes: a full pipe would stop the router mid-line.
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            drains.append(asyncio.create_task(_drain(stream, logs)))
        served = Served(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", env, tmp_path, process
        )
        await wait_until_healthy(served.url, process)
        return served

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()
    await asyncio.gather(*drains, return_exceptions=True)


async def _drain(stream: asyncio.StreamReader, into: list[bytes]) -> None:
    while line := await stream.readline():
        into.append(line)
