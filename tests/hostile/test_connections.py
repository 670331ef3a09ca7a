"""Idle and half-open client connections cannot take the router down: a request's head has a
deadline, open connections have a cap (said in the log), and the router raises its open-file
limit or warns that it is low."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson

from tests.conftest import run_cli
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def half_open(port: int, count: int) -> list[Connection]:
    """``count`` connections that each send half a request line and stop."""
    connections = []
    for _ in range(count):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        writer.write(b"POST /v1/mess")
        connections.append((reader, writer))
    return connections


async def closed_by_peer(connection: Connection) -> bool:
    """Whether the router has closed this connection (its end reads as EOF or reset)."""
    try:
        return await asyncio.wait_for(connection[0].read(1), 0.05) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_half_open_connections_under_a_low_file_limit_do_not_stop_the_router(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    port = free_port()
    env = {
        **cli_env,
        "UPSTREAM_BASE_URL": fake_upstream.url,
        "UPSTREAM_OAUTH_TOKEN": "sk-ant-oat01-connections-test",
        "ROUTER_HOST": "127.0.0.1",
        "ROUTER_PORT": str(port),
        "CLIENT_HEADER_TIMEOUT_S": "1",
        "MAX_CLIENT_CONNECTIONS": "100",
        "UPSTREAM_MAX_CONNECTIONS": "50",
    }
    code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
    assert code == 0, err
    key = orjson.loads(out)["token"]
    process = await start_serve(env, tmp_path, open_files=256)
    url = f"http://127.0.0.1:{port}"
    connections: list[Connection] = []
    try:
        await wait_until_healthy(url, process)
        connections = await half_open(port, 150)  # more than the cap, more than half the fds
        await asyncio.sleep(0.3)
        # Past the cap, connections are closed at once; the others wait for their head.
        closed_at_once = await asyncio.gather(*(closed_by_peer(c) for c in connections))
        assert 40 <= sum(closed_at_once) <= 60
        # Past the head deadline every half-open connection is gone...
        await asyncio.sleep(1.5)
        assert all(await asyncio.gather(*(closed_by_peer(c) for c in connections)))
        # ...and the router serves as before.
        async with aiohttp.ClientSession() as http:
            message = {"model": "claude-sonnet-5", "max_tokens": 8, "messages": []}
            async with http.post(
                url + "/v1/messages", json=message, headers={"x-api-key": key}
            ) as response:
                assert response.status == 200
    finally:
        for _, writer in connections:
            writer.close()
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    log = stderr.decode()
    assert "client connections are open (MAX_CLIENT_CONNECTIONS)" in log
    assert "the open-file limit is 256" in log
