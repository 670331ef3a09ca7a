"""The usage ledger end to end: exact counts from real answers, reports, SIGTERM, rollups."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from link_assistant_router.errors import StoreRejected
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.requestlog import RequestLog, Usage
from link_assistant_router.storage.records import UsageQuery
from link_assistant_router.storage.sql import open_store
from tests.conftest import RunningRouter, claude_login, ledger_rows, run_cli, write_credentials
from tests.fakes.upstream import USAGE, FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
TOKEN_KINDS = tuple(USAGE)


def tokens(row: dict[str, Any]) -> dict[str, int]:
    return {name: row[name] for name in TOKEN_KINDS}


async def test_json_and_streamed_answers_are_counted_exactly(router: RunningRouter) -> None:
    key = await router.issue_key("alice")
    client = anthropic.AsyncAnthropic(base_url=router.url, api_key=key, max_retries=0)
    await client.messages.create(**MESSAGE)  # type: ignore[call-overload]
    async with client.messages.stream(**MESSAGE) as stream:  # type: ignore[arg-type]
        await stream.get_final_message()
    await client.close()

    json_row, stream_row = await ledger_rows(router, 2)
    # The stream's last message_delta restates input and cache tokens: they are not added twice.
    assert tokens(json_row) == USAGE
    assert tokens(stream_row) == USAGE
    for row in (json_row, stream_row):
        assert row["account"] == "primary"
        assert row["model"] == "claude-sonnet-5"
        assert row["route"] == "/v1/messages"
        assert row["status"] == 200
        assert row["complete"] == 1
        assert row["error_type"] is None
        assert row["client"] == "AsyncAnthropic/Python"
        assert row["ttfb_ms"] is not None and row["duration_ms"] >= row["ttfb_ms"]
    assert json_row["key_id"] == stream_row["key_id"] == router.parts.keys.verify_signature(key)


async def test_a_stream_cut_half_way_records_what_it_saw_marked_incomplete(
    router: RunningRouter,
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "x-fake-scenario": "drop", "x-claude-code-session-id": "s-1"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + "/v1/messages", json={**MESSAGE, "stream": True}, headers=headers
        ) as response,
    ):
        body = await response.read()
    assert b"event: error" in body
    (row,) = await ledger_rows(router, 1)
    assert row["complete"] == 0
    assert tokens(row) == {**USAGE, "output_tokens": 1}  # message_start's counts
    assert row["error_type"] == "upstream_dropped"
    assert row["session"] == "s-1"


async def test_failed_requests_are_rows_without_tokens(router: RunningRouter) -> None:
    key = await router.issue_key()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + "/v1/messages",
            json=MESSAGE,
            headers={"x-api-key": key, "x-fake-scenario": "error-529"},
        ) as response,
    ):
        assert response.status == 529
    (row,) = await ledger_rows(router, 1)
    assert row["status"] == 529 and tokens(row) == dict.fromkeys(TOKEN_KINDS, 0)


async def test_usage_report_filters_and_groups(router: RunningRouter) -> None:
    alice, bob = await router.issue_key("alice"), await router.issue_key("bob")
    async with aiohttp.ClientSession() as http:
        for key, count in ((alice, 2), (bob, 1)):
            for _ in range(count):
                async with http.post(
                    router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
                ) as r:
                    assert r.status == 200
        await ledger_rows(router, 3)
        alice_id = router.parts.keys.verify_signature(alice)

        async with http.get(router.admin_url + "/v1/usage", params={"group_by": "key"}) as response:
            report = await response.json()
        by_key = {row["group"]: row for row in report["data"]}
        assert by_key[alice_id]["requests"] == 2
        assert by_key[alice_id]["input_tokens"] == 2 * USAGE["input_tokens"]
        assert report["totals"]["requests"] == 3
        assert report["totals"]["cache_read_input_tokens"] == 3 * USAGE["cache_read_input_tokens"]

        params = {"key": alice_id, "group_by": "day"}
        async with http.get(router.admin_url + "/v1/usage", params=params) as response:
            report = await response.json()
        assert [row["group"] for row in report["data"]] == [
            time.strftime("%Y-%m-%d", time.gmtime())
        ]
        assert report["totals"]["requests"] == 2

        async with http.get(
            router.admin_url + "/v1/usage", params={"since": "2999-01-01"}
        ) as response:
            assert (await response.json())["totals"]["requests"] == 0
        async with http.get(
            router.admin_url + "/v1/usage", params={"group_by": "colour"}
        ) as response:
            assert response.status == 400
            assert "group_by" in (await response.json())["error"]["message"]
        # The admin API's rules: through a proxy (or without the admin key), no report.
        async with http.get(
            router.admin_url + "/v1/usage", headers={"x-forwarded-for": "1.2.3.4"}
        ) as response:
            assert response.status == 403


async def test_api_me_shows_a_key_its_own_standing(router: RunningRouter) -> None:
    issued = await router.parts.keys.issue(
        1, "carol", limits={"budgets": {"day": 100_000}, "rpm": 30}
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(
            router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": issued.token}
        ) as response:
            assert response.status == 200
        await ledger_rows(router, 1)
        async with http.get(
            router.url + "/api/me", headers={"authorization": f"Bearer {issued.token}"}
        ) as response:
            assert response.status == 200
            me = await response.json()
        async with http.get(
            router.url + "/api/me", headers={"x-api-key": "la_sk_forged"}
        ) as response:
            assert response.status == 401
    assert me["label"] == "carol"
    assert me["limits"] == {"rpm": 30, "budgets": {"day": 100_000}}
    day = me["windows"]["day"]
    expected = USAGE["input_tokens"] + USAGE["output_tokens"] + USAGE["cache_creation_input_tokens"]
    expected += round(USAGE["cache_read_input_tokens"] * 0.1)
    assert day["tokens"] == expected and day["budget"] == 100_000
    assert day["utilization"] == pytest.approx(expected / 100_000, abs=1e-4)
    assert me["windows"]["week"]["budget"] is None
    assert issued.token not in str(me) and "account" not in me


async def test_usage_cli_prints_a_table_json_and_csv(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream, start_router: StartRouter
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    router = await start_router(upstream_base_url=fake_upstream.url, database_url=database)
    key = await router.issue_key("dave")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
        ) as response,
    ):
        assert response.status == 200
    await ledger_rows(router, 1)
    env = {**cli_env, "DATABASE_URL": database}

    code, out, err = await run_cli(env, tmp_path, "usage", "--group-by", "model")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "model",
        "requests",
        "errors",
        "incomplete",
        "input",
        "output",
        "cache",
        "write",
        "cache",
        "read",
        "searches",
        "cost",
        "$",
        "API-equiv.",
        "$",
    ]
    assert lines[1].split()[:5] == ["claude-sonnet-5", "1", "0", "0", str(USAGE["input_tokens"])]
    # Served by the Claude Code login: its whole cost is API-equivalent, and said so.
    assert lines[1].split()[-3:] == ["0", "0.00122", "0.00122"]
    assert lines[2].split()[0] == "total"
    assert "API-equiv.: the part of the cost served by subscription accounts" in lines[-1]

    code, out, err = await run_cli(env, tmp_path, "usage", "--json")
    assert code == 0, err
    assert orjson.loads(out)["totals"]["output_tokens"] == USAGE["output_tokens"]

    code, out, err = await run_cli(env, tmp_path, "usage", "--csv", "--group-by", "account")
    assert code == 0, err
    assert out.splitlines()[0].startswith("account,requests,errors")
    assert out.splitlines()[1].startswith("primary,1,0,0,25,12,100,4000")

    code, out, err = await run_cli(env, tmp_path, "usage", "--since", "yesterday")
    assert code != 0 and "since must be" in err


async def test_no_row_is_lost_across_sigterm(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    database = f"sqlite+aiosqlite:///{tmp_path}/ledger.db"
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url, "DATABASE_URL": database}
    code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
    assert code == 0, err
    key = orjson.loads(out)["token"]
    port = free_port()
    process = await start_serve({**env, "ROUTER_PORT": str(port)}, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, process)
        async with aiohttp.ClientSession() as http:

            async def one(stream: bool) -> int:
                async with http.post(
                    url + "/v1/messages",
                    json={**MESSAGE, "stream": stream},
                    headers={"x-api-key": key},
                ) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(one(n % 2 == 0) for n in range(40)))
        assert statuses == [200] * 40
    finally:
        # At once: the rows are still in memory, waiting for their one-second flush.
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0

    store = open_store(database)
    await store.open()
    try:
        (totals,) = await store.usage_totals(UsageQuery())
    finally:
        await store.close()
    assert totals["requests"] == 40
    assert totals["input_tokens"] == 40 * USAGE["input_tokens"]
    assert totals["cache_read_input_tokens"] == 40 * USAGE["cache_read_input_tokens"]


async def test_translated_chat_completions_are_counted_exactly(router: RunningRouter) -> None:
    key = await router.issue_key()
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    await client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
    )
    async for _ in stream:
        pass
    await client.close()
    rows = await ledger_rows(router, 2)
    for row in rows:
        assert tokens(row) == USAGE
        assert row["route"] == "/v1/chat/completions"
        assert row["model"].startswith("claude-sonnet")
        assert row["complete"] == 1


class RejectingStore:
    """A real store that refuses, as a database would refuse bad data, any batch holding a row
    whose model is ``poison``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def record_usage(self, rows: Any, windows: Any) -> None:
        self.calls += 1
        if any(row.model == "poison" for row in rows):
            raise StoreRejected("store error: DataError: a value it cannot hold")
        await self.store.record_usage(rows, windows)


def finished(key_id: str, model: str, number: int) -> RequestLog:
    entry = RequestLog("POST", "/v1/messages")
    entry.request_id = f"req_{number}"
    entry.key_id, entry.model, entry.status = key_id, model, 200
    entry.usage = Usage(input_tokens=10, output_tokens=5)
    return entry


async def test_rows_the_store_refuses_are_set_aside_and_counted_not_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = open_store(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    await inner.open()
    store = RejectingStore(inner)
    set_aside: list[int] = []
    ledger = UsageLedger(
        store, cache_read_weight=0.1, retention_days=90, on_set_aside=set_aside.append
    )
    try:
        for number in range(7):
            ledger.record(finished("k1", "poison" if number == 3 else "claude-x", number))
        await ledger.flush()
        ledger.record(finished("k1", "claude-x", 7))
        await ledger.flush()
        totals = await inner.usage_totals(UsageQuery())
        windows = await inner.window_tokens("k1")
    finally:
        await inner.close()
    assert totals[0]["requests"] == 7  # every row but the refused one
    assert set_aside == [1]
    assert "req_3" in caplog.text and "set aside" in caplog.text
    # The refused request's tokens still count against the key's budgets.
    assert windows["day"].tokens == 8 * 15
