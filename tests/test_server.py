"""`serve` as a real process: start-up, several workers on one port, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.conftest import claude_login, run_cli, write_credentials
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy


async def test_workers_share_the_port_and_revocation_and_stop_on_sigterm(
    cli_env: dict[str, str],
    tmp_path: Path,
    fake_upstream: FakeUpstream,
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    port = free_port()
    env = {
        **cli_env,
        "UPSTREAM_BASE_URL": fake_upstream.url,
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(port),
        "ROUTER_WORKERS": "2",
        "KEY_CACHE_TTL_S": "0",
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "link_assistant_router",
        "serve",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, process)
        code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
        assert code == 0, err
        issued = orjson.loads(out)
        headers = {"x-api-key": issued["token"]}
        async with aiohttp.ClientSession() as http:
            for _ in range(6):
                async with http.post(url + "/v1/messages", data=b"{}", headers=headers) as r:
                    assert r.status == 200
            code, _, err = await run_cli(env, tmp_path, "tokens", "revoke", issued["id"])
            assert code == 0, err
            # Fresh connections, so both workers get their turn to refuse it.
            for _ in range(20):
                async with (
                    aiohttp.ClientSession() as fresh,
                    fresh.post(url + "/v1/messages", data=b"{}", headers=headers) as r,
                ):
                    assert r.status == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    lines = [orjson.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert sum("listening on" in line["message"] for line in lines) == 2
    refusing_workers = {line["pid"] for line in lines if line.get("status") == 403}
    assert len(refusing_workers) == 2


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_a_port_in_use_is_a_clear_error(
    cli_env: dict[str, str], tmp_path: Path, workers: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **cli_env,
            "ROUTER_HOST": "127.0.0.1",
            "ROUTER_PORT": str(port),
            "ROUTER_WORKERS": workers,
        }
        process = await start_serve(env, tmp_path)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr.decode()


async def test_a_crashed_worker_is_replaced(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    port = free_port()
    env = {
        **cli_env,
        "UPSTREAM_BASE_URL": fake_upstream.url,
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(port),
        "ROUTER_WORKERS": "2",
        "LOG_FORMAT": "json",
    }
    process = await start_serve(env, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, process)
        worker_pids = await asyncio.to_thread(children_of, process.pid)
        assert len(worker_pids) == 2
        await asyncio.sleep(5.5)  # past the start-up window, so this counts as a crash
        os.kill(worker_pids[0], signal.SIGKILL)
        for _ in range(100):
            current = await asyncio.to_thread(children_of, process.pid)
            if len(current) == 2 and worker_pids[0] not in current:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the killed worker was not replaced")
        await wait_until_healthy(url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    assert "starting a new one" in stderr.decode()


def children_of(pid: int) -> list[int]:
    """Worker processes of the router (spawn also starts a resource tracker: not a worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found
