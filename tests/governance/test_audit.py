"""The audit log: every admin action recorded with its actor, readable by API and CLI, and
never holding a secret."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.conftest import RunningRouter, run_cli
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
API_KEY = "sk-ant-api03-audit-test-secret-DO-NOT-LEAK"
ADMIN_KEY = "admin-" + "a" * 40


async def audit(http: aiohttp.ClientSession, url: str, **params: str) -> list[dict[str, Any]]:
    async with http.get(url + "/api/audit", params=params) as response:
        assert response.status == 200, await response.text()
        data: list[dict[str, Any]] = (await response.json())["data"]
        return data


async def test_every_admin_action_through_the_api_is_recorded(router: RunningRouter) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(router.admin_url + "/api/tokens", json={"label": "bob"}) as response:
            issued = await response.json()
        key_id = issued["id"]
        async with http.patch(
            f"{router.admin_url}/api/tokens/{key_id}", json={"limits": {"rpm": 5}}
        ) as response:
            assert response.status == 200
        async with http.post(
            router.admin_url + "/api/tokens/revoke", json={"id": key_id}
        ) as response:
            assert response.status == 200
        account = {"name": "spare", "kind": "api-key", "token": API_KEY, "priority": 2}
        async with http.post(router.admin_url + "/api/accounts", json=account) as response:
            assert response.status == 200
        for verb in ("disable", "enable"):
            async with http.post(f"{router.admin_url}/api/accounts/spare/{verb}") as response:
                assert response.status == 200
        async with http.delete(router.admin_url + "/api/accounts/spare") as response:
            assert response.status == 200
        records = await audit(http, router.admin_url)
        only_revokes = await audit(http, router.admin_url, action="key.revoke")
        for_key = await audit(http, router.admin_url, target=key_id)
        newest_two = await audit(http, router.admin_url, limit="2")
        since_future = await audit(http, router.admin_url, since="2999-01-01")
        until_past = await audit(http, router.admin_url, until="2000-01-01T00:00:00Z")
        until_future = await audit(http, router.admin_url, until="2999-01-01")
        async with http.get(router.admin_url + "/api/audit", params={"limit": "0"}) as response:
            assert response.status == 400

    assert [r["action"] for r in records] == [
        "account.remove",
        "account.enable",
        "account.disable",
        "account.add",
        "key.revoke",
        "key.update",
        "key.issue",
    ]
    assert {r["actor"] for r in records} == {"loopback"}
    assert all(r["request_id"].startswith("req_lar_") for r in records)
    assert records[-1]["details"]["label"] == "bob"
    assert records[-2]["details"] == {"limits": {"rpm": 5}}
    assert records[3]["details"] == {"kind": "api-key", "priority": 2, "weight": 1, "group": None}
    assert [r["action"] for r in only_revokes] == ["key.revoke"]
    assert [r["action"] for r in for_key] == ["key.revoke", "key.update", "key.issue"]
    assert len(newest_two) == 2
    assert since_future == [] and until_past == [] and len(until_future) == len(records)
    text = orjson.dumps(records).decode()
    assert issued["token"] not in text and API_KEY not in text


async def test_the_admin_key_is_the_actor_when_set(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY)
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(router.admin_url + "/api/tokens", json={"label": "x"}) as response:
            assert response.status == 200
        (record,) = await audit(http, router.admin_url)
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.admin_url + "/api/audit") as response,
    ):
        assert response.status == 401  # the audit log is admin-only too
    assert record["actor"] == "admin-key"
    assert ADMIN_KEY not in orjson.dumps(record).decode()


async def test_an_account_losing_its_login_is_recorded_as_the_routers_doing(
    router: RunningRouter,
) -> None:
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the second refusal changes nothing: one record
            async with http.post(
                router.url + "/v1/messages",
                json={"model": "claude-sonnet-5", "max_tokens": 5, "messages": []},
                headers={"x-api-key": key, "x-fake-scenario": "error-403-org"},
            ) as response:
                await response.read()
        records = await audit(http, router.admin_url, action="account.needs_login")
    assert len(records) == 1
    assert (records[0]["actor"], records[0]["target"]) == ("router", "primary")
    assert "not allowed for this organization" in records[0]["details"]["reason"]


async def test_cli_actions_are_recorded_and_listed(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = await run_cli(cli_env, tmp_path, "tokens", "issue", "--label", "c", "--json")
    assert code == 0, err
    issued = orjson.loads(out)
    assert (await run_cli(cli_env, tmp_path, "tokens", "update", issued["id"], "--rpm", "9"))[
        0
    ] == 0
    assert (await run_cli(cli_env, tmp_path, "tokens", "revoke", issued["id"]))[0] == 0
    key_file = tmp_path / "key.txt"
    key_file.write_text(API_KEY)
    code, _, err = await run_cli(
        cli_env, tmp_path, "accounts", "add", "--name", "team", "--api-key-file", str(key_file)
    )
    assert code == 0, err
    assert (await run_cli(cli_env, tmp_path, "accounts", "disable", "team"))[0] == 0
    assert (await run_cli(cli_env, tmp_path, "accounts", "enable", "team"))[0] == 0
    assert (await run_cli(cli_env, tmp_path, "accounts", "remove", "team"))[0] == 0

    code, out, err = await run_cli(cli_env, tmp_path, "audit", "--json")
    assert code == 0, err
    records = orjson.loads(out)["data"]
    assert [(r["action"], r["actor"]) for r in records] == [
        ("account.remove", "cli"),
        ("account.enable", "cli"),
        ("account.disable", "cli"),
        ("account.add", "cli"),
        ("key.revoke", "cli"),
        ("key.update", "cli"),
        ("key.issue", "cli"),
    ]
    assert issued["token"] not in out and API_KEY not in out
    code, out, err = await run_cli(cli_env, tmp_path, "audit", "--action", "key.issue")
    assert code == 0, err
    assert out.count("key.issue") == 1 and issued["id"] in out and "cli" in out
