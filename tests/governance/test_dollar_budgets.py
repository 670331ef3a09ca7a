"""Dollar budgets: per window (429 until it ends) and for a key's lifetime (403, final); the key's
rate-limit headers at the budget closest to its limit; set through the API and the CLI; held
across two router processes sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import calendar
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from link_assistant_router.errors import PermissionDenied, RateLimited
from link_assistant_router.governance.governor import Governor, rate_headers, window_states
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.limits import KeyLimits, parse_limits
from link_assistant_router.requestlog import RequestLog, Usage
from link_assistant_router.storage.records import KeyRecord, WindowTokens
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.conftest import RunningRouter, claude_login, run_cli, write_credentials
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy

# A Wednesday, 2026-11-25 10:00:00 UTC; its month ends on 2026-12-01.
NOW = float(calendar.timegm((2026, 11, 25, 10, 0, 0)))
MONTH_END = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
ANSWER_MICROS = 1220  # the fake upstream's usage at Claude Sonnet 5's prices
UNIFIED = "anthropic-ratelimit-unified-"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/budgets.db")
    await store.open()
    yield store
    await store.close()


async def limited_key(store: SqlStore, limits: dict[str, Any]) -> KeyRecord:
    record = KeyRecord(
        id=str(uuid.uuid4()),
        label="t",
        created_at=NOW,
        expires_at=NOW + 1e8,
        limits=parse_limits(limits),
    )
    await store.insert_key(record)
    return record


def spend(ledger: UsageLedger, key: KeyRecord, output_tokens: int) -> None:
    """Record an answer of ``output_tokens`` from Claude Sonnet 5 ($10 per million: 10 µ$ each)."""
    entry = RequestLog("POST", "/v1/messages")
    entry.key_id, entry.status, entry.model = key.id, 200, "claude-sonnet-5"
    entry.usage = Usage(output_tokens=output_tokens)
    ledger.record(entry)


def parts(store: SqlStore, clock: Clock) -> tuple[UsageLedger, Governor]:
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    return ledger, Governor(store, ledger, clock=clock)


async def test_a_spent_monthly_budget_refuses_with_429_until_the_month_ends(
    store: SqlStore,
) -> None:
    clock = Clock(NOW)
    ledger, governor = parts(store, clock)
    key = await limited_key(store, {"budgets_usd": {"month": "$0.01"}})
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    spend(ledger, key, 999)  # $0.00999: under
    await ledger.flush()
    clock.now += 2  # past the one-second cache of the windows
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    spend(ledger, key, 1)  # $0.01: spent (not flushed yet: it counts all the same)
    with pytest.raises(RateLimited) as refused:
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    assert "monthly budget of $0.01 is spent" in refused.value.message
    assert refused.value.retry_after == pytest.approx(MONTH_END - clock.now)
    assert refused.value.headers()[UNIFIED + "1mo-status"] == "rejected"
    await ledger.flush()
    clock.now = MONTH_END
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)  # a new month
    states = {state.name: state for state in await governor.windows(key)}
    assert (states["month"].cost, states["total"].cost) == (0, 10_000)


async def test_a_spent_lifetime_budget_is_final_with_403(store: SqlStore) -> None:
    clock = Clock(NOW)
    ledger, governor = parts(store, clock)
    key = await limited_key(store, {"budgets_usd": {"total": "0.01", "day": "5"}})
    spend(ledger, key, 1000)
    await ledger.flush()
    for later in (0, 86400, 400 * 86400):  # no window's end brings it back
        clock.now = NOW + later
        with pytest.raises(PermissionDenied, match=r"lifetime budget of \$0.01 is spent"):
            await governor.admit(key, RequestLog("POST", "/v1/messages"), None)


def test_the_headers_follow_the_budget_closest_to_its_limit() -> None:
    limits = parse_limits({"budgets": {"5h": 100_000}, "budgets_usd": {"week": "0.01", "total": 1}})
    stored = {name: WindowTokens(name, NOW - 60, 10_000, 8_000) for name in ("5h", "week", "total")}
    headers = dict(rate_headers(window_states(limits, stored, 0.0, NOW), NOW))
    assert headers[UNIFIED + "5h-utilization"] == "0.1000"  # 10,000 of 100,000 tokens
    assert headers[UNIFIED + "7d-utilization"] == "0.8000"  # $0.008 of $0.01
    assert headers[UNIFIED + "7d-status"] == "allowed_warning"
    assert headers[UNIFIED + "total-utilization"] == "0.0080"  # $0.008 of $1
    assert UNIFIED + "total-reset" not in headers  # a lifetime has no reset
    assert headers[UNIFIED + "status"] == "allowed_warning"
    assert headers[UNIFIED + "representative-claim"] == "seven_day"
    pending = window_states(limits, stored, 0.0, NOW, pending_cost=2_000)
    assert dict(rate_headers(pending, NOW))[UNIFIED + "7d-status"] == "rejected"


async def post(router: RunningRouter, key: str) -> tuple[int, CIMultiDict[str], Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}) as r,
    ):
        return r.status, CIMultiDict(r.headers), await r.json()


async def test_dollar_budgets_through_a_running_router(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    daily = (await router.parts.keys.issue(1, "d", limits={"budgets_usd": {"day": "0.002"}})).token
    lifetime = (
        await router.parts.keys.issue(1, "t", limits={"budgets": {"total": "$0.002"}})
    ).token
    for key, refused in ((daily, 429), (lifetime, 403)):
        statuses = []
        for _ in range(3):
            status, headers, body = await post(router, key)
            statuses.append(status)
            await router.parts.ledger.flush()
        assert statuses == [200, 200, refused]
    assert len(fake_upstream.requests) == 4  # refused before anything went upstream
    assert "lifetime budget of $0.002 is spent" in body["error"]["message"]

    status, headers, body = await post(router, daily)
    assert "daily budget of $0.002 is spent" in body["error"]["message"]
    assert 0 < int(headers["retry-after"]) <= 86400
    assert headers[UNIFIED + "1d-status"] == "rejected"
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.url + "/api/me", headers={"x-api-key": daily}) as response,
    ):
        me = await response.json()
    assert me["limits"] == {"budgets_usd": {"day": "0.002"}}
    assert me["windows"]["day"]["cost_usd"] == "0.00244"
    assert me["windows"]["day"]["budget_usd"] == "0.002"
    assert me["windows"]["day"]["utilization"] == 1.22
    assert me["windows"]["total"]["resets_at"] is None


async def test_dollar_budgets_are_set_through_the_api_and_the_cli(
    router: RunningRouter, cli_env: dict[str, str], tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as http:
        limits = {"budgets": {"month": "$50"}, "budgets_usd": {"total": "200"}}
        async with http.post(router.admin_url + "/api/tokens", json={"limits": limits}) as r:
            issued = await r.json()
        assert issued["limits"] == {"budgets_usd": {"month": "50.00", "total": "200.00"}}
        url = f"{router.admin_url}/api/tokens/{issued['id']}"
        async with http.patch(url, json={"limits": {"budgets_usd": {"month": None}}}) as r:
            assert (await r.json())["limits"] == {"budgets_usd": {"total": "200.00"}}
        async with http.patch(url, json={"limits": {"budgets_usd": {"month": "$-1"}}}) as r:
            assert r.status == 400

    issue = ("tokens", "issue", "--json", "--budget", "month=$50", "--budget", "total=$200")
    code, out, err = await run_cli(cli_env, tmp_path, *issue, "--budget", "day=1000")
    assert code == 0, err
    key = orjson.loads(out)
    assert key["limits"] == {
        "budgets": {"day": 1000},
        "budgets_usd": {"month": "50.00", "total": "200.00"},
    }
    code, out, err = await run_cli(
        cli_env, tmp_path, "tokens", "update", key["id"], "--json", "--clear", "month-usd"
    )
    assert code == 0, err
    assert orjson.loads(out)["limits"]["budgets_usd"] == {"total": "200.00"}
    code, _, err = await run_cli(cli_env, tmp_path, "tokens", "issue", "--budget", "day=$x")
    assert code != 0 and "limits.budgets_usd.day" in err


async def test_dollar_budgets_hold_across_two_router_processes_sharing_postgresql(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream, postgres_url: str
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url, "DATABASE_URL": postgres_url}
    keys = []
    for budget in ("day=$0.003", "total=$0.002"):
        code, out, err = await run_cli(
            env, tmp_path, "tokens", "issue", "--json", "--budget", budget
        )
        assert code == 0, err
        keys.append(orjson.loads(out)["token"])
    daily, lifetime = keys
    ports = [free_port(), free_port()]
    processes = [await start_serve({**env, "ROUTER_PORT": str(port)}, tmp_path) for port in ports]
    first, second = urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            await wait_until_healthy(url, process)
        async with aiohttp.ClientSession() as http:

            async def send(url: str, key: str, path: str = "/v1/messages") -> int:
                async with http.post(url + path, json=MESSAGE, headers={"x-api-key": key}) as r:
                    await r.read()
                    return r.status

            async def refused_by_both(key: str) -> list[int]:
                """Both processes' answers once each has seen the other's spending (a
                count_tokens request costs nothing: it only asks)."""
                for _ in range(100):
                    statuses = [await send(url, key, "/v1/messages/count_tokens") for url in urls]
                    if 200 not in statuses:
                        break
                    await asyncio.sleep(0.1)
                return statuses

            # $0.00122 an answer: two (one on each process) leave the day's $0.003 unspent...
            assert [await send(first, daily), await send(second, daily)] == [200, 200]
            await asyncio.sleep(1.5)  # each process writes its ledger every second
            assert await send(first, daily) == 200
            # ... a third, on either, spends it: both refuse, until the day ends.
            assert await refused_by_both(daily) == [429, 429]
            assert [await send(url, daily) for url in urls] == [429, 429]

            assert [await send(first, lifetime), await send(second, lifetime)] == [200, 200]
            assert await refused_by_both(lifetime) == [403, 403]
        messages = [r for r in fake_upstream.requests if r.path == "/v1/messages"]
        assert len(messages) == 5
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        await asyncio.gather(
            *(asyncio.wait_for(process.communicate(), timeout=30) for process in processes)
        )
    code, out, err = await run_cli(env, tmp_path, "usage", "--json")
    assert code == 0, err
    assert orjson.loads(out)["totals"]["cost_usd"] == "0.0061"  # 5 * $0.00122, exactly


def test_a_key_with_only_dollar_budgets_has_budgets() -> None:
    assert KeyLimits(budgets_usd={"day": 1}).has_budgets()
