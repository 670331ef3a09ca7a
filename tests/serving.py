"""Running ``serve`` as a real process in tests: a free port, start-up, health, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            assert process.returncode is None, "the router exited during start-up"
            try:
                async with http.get(url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the router did not become healthy")


async def start_serve(
    env: dict[str, str], cwd: Path, open_files: int | None = None
) -> asyncio.subprocess.Process:
    """``serve`` as a process (``open_files``: its open-file limit, soft and hard)."""

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "link_assistant_router",
        "serve",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit if open_files is not None else None,
    )


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], cwd: Path, count: int) -> AsyncIterator[list[str]]:
    """``count`` router processes (``serve``, each on a free port), healthy; their URLs. They
    are stopped with SIGTERM, as a service manager would, when the block ends."""
    ports = [free_port() for _ in range(count)]
    processes = [await start_serve({**env, "ROUTER_PORT": str(port)}, cwd) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            await wait_until_healthy(url, process)
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        await asyncio.gather(
            *(asyncio.wait_for(process.communicate(), timeout=30) for process in processes)
        )
