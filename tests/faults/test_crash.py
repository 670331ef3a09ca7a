"""A router killed with SIGKILL mid-burst: the ledger loses at most its last second, and the
concurrency slots it held free themselves within the lease (30 s) for the other processes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import aiohttp
from sqlalchemy import text

from link_assistant_router.storage.sql import open_store
from tests.faults.conftest import PrivatePostgres, Served

ServeOn = Callable[..., Awaitable[Served]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 8,
    "messages": [{"role": "user", "content": "x"}],
}


async def burst(served: Served, key: str, done: list[float], stop: asyncio.Event) -> None:
    """Requests back to back, several at a time, until ``stop``; when each answered."""

    async def one_client(http: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                async with http.post(
                    served.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
                ) as response:
                    await response.read()
                    if response.status == 200:
                        done.append(time.monotonic())
            except aiohttp.ClientError:
                return  # the router is gone

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one_client(http) for _ in range(4)))


async def ledger_rows(database_url: str) -> int:
    store = open_store(database_url)
    await store.open()
    try:
        async with store.engine.connect() as conn:
            return int((await conn.execute(text("SELECT COUNT(*) FROM usage_events"))).scalar_one())
    finally:
        await store.close()


async def test_a_hard_kill_loses_at_most_the_last_second_of_ledger_rows(
    private_postgres: PrivatePostgres, serve_on: ServeOn
) -> None:
    served = await serve_on(private_postgres.url)
    key = await served.issue()
    done: list[float] = []
    stop = asyncio.Event()
    sender = asyncio.create_task(burst(served, key, done, stop))
    await asyncio.sleep(3)
    served.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await served.process.wait()
    stop.set()
    await sender
    rows = await ledger_rows(private_postgres.url)
    older_than_a_second = sum(1 for at in done if at <= killed_at - 1.0)
    assert older_than_a_second > 50
    assert older_than_a_second <= rows <= len(done)


async def test_a_killed_process_s_concurrency_slots_free_themselves_within_the_lease(
    private_postgres: PrivatePostgres, serve_on: ServeOn
) -> None:
    first = await serve_on(private_postgres.url)
    second = await serve_on(private_postgres.url)
    key = await first.issue("--concurrency", "2")
    headers = {"x-api-key": key, "x-fake-scenario": "hang"}
    async with aiohttp.ClientSession() as http:
        holding = [
            asyncio.create_task(
                http.post(first.url + "/v1/messages", json=MESSAGE, headers=headers)
            )
            for _ in range(2)
        ]
        await asyncio.sleep(1.0)  # both slots taken in the store by the first process
        async with http.post(
            second.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
        ) as response:
            assert response.status == 429
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
        killed_at = time.monotonic()
        freed_after = None
        for _ in range(60):
            async with http.post(
                second.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
            ) as response:
                if response.status == 200:
                    freed_after = time.monotonic() - killed_at
                    break
            await asyncio.sleep(1.0)
        for task in holding:
            task.cancel()
        await asyncio.gather(*holding, return_exceptions=True)
    assert freed_after is not None and freed_after <= 45  # the lease is 30 s
