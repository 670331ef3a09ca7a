"""Dollar budgets through running routers: 429 for a spent window, 403 for a spent lifetime, the
key's own headers and /api/me; set through the API and the CLI; held across two router
processes sharing one PostgreSQL. (Enforcement with a moving clock is in tests/test_limits.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from tests.conftest import RunningRouter, claude_login, issued_keys, run_cli, write_credentials
from tests.fakes.upstream import FakeUpstream
from tests.serving import serving

MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
# The fake upstream's answer costs $0.00122 at Claude Sonnet 5's prices.
UNIFIED = "anthropic-ratelimit-unified-"


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
    budgets = (["--budget", "day=$0.003"], ["--budget", "total=$0.002"])
    daily, lifetime = await issued_keys(env, tmp_path, *budgets)
    async with serving(env, tmp_path, 2) as urls, aiohttp.ClientSession() as http:
        first, second = urls

        async def send(url: str, key: str, path: str = "/v1/messages") -> int:
            async with http.post(url + path, json=MESSAGE, headers={"x-api-key": key}) as r:
                await r.read()
                return r.status

        async def refused_by_both(key: str) -> list[int]:
            """Both processes' answers once each has seen the other's spending (a count_tokens
            request costs nothing: it only asks)."""
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
    assert len([r for r in fake_upstream.requests if r.path == "/v1/messages"]) == 5
    code, out, err = await run_cli(env, tmp_path, "usage", "--json")
    assert code == 0, err
    assert orjson.loads(out)["totals"]["cost_usd"] == "0.0061"  # 5 * $0.00122, exactly
