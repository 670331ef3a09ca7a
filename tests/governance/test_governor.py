"""Per-key limits through a running router: 429s with retry-after, 403s, the key's own
rate-limit headers, changes through the API and the CLI, and limits shared by two routers on
one PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from multidict import CIMultiDict

from tests.conftest import (
    RunningRouter,
    claude_login,
    issued_keys,
    run_cli,
    write_credentials,
)
from tests.fakes.upstream import FakeUpstream
from tests.serving import serving

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
UNIFIED = "anthropic-ratelimit-unified-"


async def issue(router: RunningRouter, limits: dict[str, Any]) -> str:
    return (await router.parts.keys.issue(1, "limited", limits=limits)).token


async def post(
    http: aiohttp.ClientSession, router: RunningRouter, key: str, **headers: str
) -> tuple[int, CIMultiDict[str], dict[str, Any]]:
    async with http.post(
        router.url + "/v1/messages",
        json={**MESSAGE, **({"stream": True} if "x-fake-scenario" in headers else {})},
        headers={"x-api-key": key, **headers},
    ) as response:
        raw = await response.read()
        body = orjson.loads(raw) if response.content_type == "application/json" else {}
        return response.status, CIMultiDict(response.headers), body


async def test_requests_per_minute_beyond_the_limit_get_429_with_retry_after(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await issue(router, {"rpm": 3})
    async with aiohttp.ClientSession() as http:
        results = [await post(http, router, key) for _ in range(5)]
    assert [status for status, _, _ in results] == [200, 200, 200, 429, 429]
    _, headers, body = results[3]
    assert body["error"]["type"] == "rate_limit_error"
    assert "3 requests per minute" in body["error"]["message"]
    assert 1 <= int(headers["retry-after"]) <= 60
    assert len(fake_upstream.requests) == 3  # refused before anything went upstream


async def test_concurrency_limit_holds_under_20_parallel_requests(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await issue(router, {"concurrency": 4})
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(
                post(http, router, key, **{"x-fake-scenario": "slow", "x-fake-delay-ms": "40"})
                for _ in range(20)
            )
        )
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 4 and statuses.count(429) == 16
        assert all(h["retry-after"] == "1" for s, h, _ in results if s == 429)
        # Slots are given back when requests end: the next four get through.
        await asyncio.sleep(0.3)
        again = await asyncio.gather(*(post(http, router, key) for _ in range(4)))
    assert [status for status, _, _ in again] == [200] * 4


async def test_a_spent_budget_gets_429_until_its_window_resets(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    # One answer costs 25 + 12 + 100 + 4000 * 0.1 = 537 tokens.
    key = await issue(router, {"budgets": {"day": 1000}})
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):
            status, headers, body = await post(http, router, key)
            statuses.append(status)
            await router.parts.ledger.flush()
    assert statuses == [200, 200, 429, 429]
    assert "daily token budget of 1,000 is spent" in body["error"]["message"]
    assert 0 < int(headers["retry-after"]) <= 86400
    assert headers[UNIFIED + "1d-status"] == "rejected"
    assert len(fake_upstream.requests) == 2


async def test_a_model_or_network_not_allowed_gets_403(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    haiku_only = await issue(router, {"models": ["claude-haiku-*"]})
    elsewhere = await issue(router, {"networks": ["10.0.0.0/8"]})
    async with aiohttp.ClientSession() as http:
        status, _, body = await post(http, router, haiku_only)
        assert status == 403 and body["error"]["type"] == "permission_error"
        assert "claude-sonnet-5" in body["error"]["message"]
        status, _, body = await post(http, router, elsewhere)
        assert status == 403 and "network" in body["error"]["message"]
    assert fake_upstream.requests == []


async def test_a_budgeted_key_sees_its_own_rate_limit_headers_and_not_the_accounts(
    router: RunningRouter,
) -> None:
    budgeted = await issue(router, {"budgets": {"5h": 100_000, "week": 1_000_000}})
    plain = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        await post(http, router, budgeted)
        await router.parts.ledger.flush()
        _, own, _ = await post(http, router, budgeted)
        _, upstream, _ = await post(http, router, plain)
    # The fake upstream sends its account's windows: 5h at 0.0 and 7d at 0.1 utilization.
    assert upstream[UNIFIED + "7d-utilization"] == "0.1"
    assert upstream[UNIFIED + "5h-utilization"] == "0.0"
    assert own[UNIFIED + "5h-utilization"] == "0.0054"  # 537 of 100,000
    assert own[UNIFIED + "7d-utilization"] == "0.0005"
    assert own[UNIFIED + "status"] == "allowed"
    assert own[UNIFIED + "representative-claim"] == "five_hour"
    unified = {name for name in own if name.lower().startswith(UNIFIED)}
    assert unified == {
        UNIFIED + suffix
        for suffix in (
            "5h-status",
            "5h-reset",
            "5h-utilization",
            "7d-status",
            "7d-reset",
            "7d-utilization",
            "status",
            "reset",
            "representative-claim",
        )
    }


async def test_limits_change_through_patch(router: RunningRouter) -> None:
    key = await issue(router, {"rpm": 1})
    key_id = router.parts.keys.verify_signature(key)
    async with aiohttp.ClientSession() as http:
        assert (await post(http, router, key))[0] == 200
        assert (await post(http, router, key))[0] == 429
        async with http.patch(
            f"{router.admin_url}/api/tokens/{key_id}",
            json={"label": "renamed", "limits": {"rpm": None, "concurrency": 2}},
        ) as response:
            assert response.status == 200
            view = await response.json()
        assert view["label"] == "renamed" and view["limits"] == {"concurrency": 2}
        assert (await post(http, router, key))[0] == 200  # this worker forgot its cached copy
        async with http.patch(
            f"{router.admin_url}/api/tokens/{key_id}", json={"limits": {"budgets": {"year": 5}}}
        ) as response:
            assert response.status == 400
            assert "unknown window 'year'" in (await response.json())["error"]["message"]
        async with http.patch(
            f"{router.admin_url}/api/tokens/nope", json={"label": "x"}
        ) as response:
            assert response.status == 404


async def test_cli_issues_and_updates_limits(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = await run_cli(
        cli_env,
        tmp_path,
        "tokens",
        "issue",
        "--json",
        "--rpm",
        "10",
        "--budget",
        "5h=1000",
        "--budget",
        "month=50000",
        "--model",
        "claude-*",
        "--network",
        "127.0.0.0/8",
    )
    assert code == 0, err
    issued = orjson.loads(out)
    assert issued["limits"] == {
        "rpm": 10,
        "budgets": {"5h": 1000, "month": 50000},
        "models": ["claude-*"],
        "networks": ["127.0.0.0/8"],
    }
    code, out, err = await run_cli(
        cli_env,
        tmp_path,
        "tokens",
        "update",
        issued["id"],
        "--json",
        "--clear",
        "rpm",
        "--clear",
        "5h",
        "--concurrency",
        "3",
    )
    assert code == 0, err
    assert orjson.loads(out)["limits"] == {
        "concurrency": 3,
        "budgets": {"month": 50000},
        "models": ["claude-*"],
        "networks": ["127.0.0.0/8"],
    }
    code, out, err = await run_cli(
        cli_env, tmp_path, "tokens", "update", issued["id"], "--clear-limits"
    )
    assert code == 0, err
    assert "no limits" in out
    code, _, err = await run_cli(cli_env, tmp_path, "tokens", "issue", "--budget", "5h")
    assert code != 0 and "WINDOW=TOKENS" in err


async def test_limits_hold_across_two_router_processes_sharing_postgresql(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream, postgres_url: str
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url, "DATABASE_URL": postgres_url}
    rpm_key, slots_key = await issued_keys(env, tmp_path, ["--rpm", "6"], ["--concurrency", "3"])
    async with serving(env, tmp_path, 2) as urls, aiohttp.ClientSession() as http:

        async def send(url: str, key: str, **headers: str) -> int:
            async with http.post(
                url + "/v1/messages",
                json={**MESSAGE, "stream": "x-fake-scenario" in headers},
                headers={"x-api-key": key, **headers},
            ) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(send(url, rpm_key) for url in urls for _ in range(5)))
        assert sorted(statuses) == [200] * 6 + [429] * 4
        slow = {"x-fake-scenario": "slow", "x-fake-delay-ms": "40"}
        statuses = await asyncio.gather(
            *(send(url, slots_key, **slow) for url in urls for _ in range(10))
        )
        assert sorted(statuses) == [200] * 3 + [429] * 17


async def test_limits_apply_to_every_client_format(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    haiku_only = await issue(router, {"models": ["claude-haiku-*"], "rpm": 2})
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=haiku_only, max_retries=0)
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.PermissionDeniedError) as refused:  # gpt-4o is Sonnet
        await client.chat.completions.create(model="gpt-4o", messages=messages)
    assert isinstance(refused.value.body, dict) and "claude-sonnet" in refused.value.body["message"]
    await client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # Haiku
    await client.responses.create(model="gpt-4o-mini", input="hi")
    with pytest.raises(openai.RateLimitError) as limited:  # the third request this minute
        await client.responses.create(model="gpt-4o-mini", input="hi")
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    await client.close()
    bedrock = f"{router.url}/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            bedrock,
            json={"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": messages},
            headers={"authorization": f"Bearer {haiku_only}"},
        ) as response,
    ):
        assert response.status == 403
    assert len(fake_upstream.requests) == 2
