"""The accounts admin API and the ``accounts`` CLI, against real routers and the fake upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import (
    OAUTH_TOKEN,
    RunningRouter,
    claude_login,
    run_cli,
    write_credentials,
)
from tests.fakes.oauth import FakeTokenEndpoint
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
SETUP_TOKEN = "sk-ant-oat01-setup-token-SECRET-for-tests"
API_KEY = "sk-ant-api03-team-key-SECRET-for-tests"
ADMIN_KEY = "admin-key-for-tests-" + "b" * 24
MESSAGE = b'{"model":"claude-sonnet-5","max_tokens":8,"messages":[{"role":"user","content":"x"}]}'


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def listed(http: aiohttp.ClientSession, router: RunningRouter) -> dict[str, Any]:
    status, listing = await call(http, "GET", router.admin_url + "/v1/accounts")
    assert status == 200
    return {account["name"]: account for account in listing["data"]}


async def test_an_added_token_is_encrypted_at_rest_listed_without_it_and_used(
    router: RunningRouter,
    fake_upstream: FakeUpstream,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    document = {"name": "setup", "kind": "oauth-token", "token": SETUP_TOKEN, "group": "team"}
    status, added = await call(http, "POST", router.admin_url + "/api/accounts", json=document)
    assert status == 200, added
    assert (added["name"], added["kind"], added["state"], added["group"]) == (
        "setup",
        "oauth-token",
        "ready",
        "team",
    )

    accounts = await listed(http, router)
    assert set(accounts) == {"primary", "setup"}
    assert SETUP_TOKEN not in str(accounts) and OAUTH_TOKEN not in str(accounts)
    stored = (tmp_path / "data" / "router.db").read_bytes()
    assert SETUP_TOKEN.encode() not in stored

    key = (await router.parts.keys.issue(1, "team", group="team")).token
    async with http.post(
        router.url + "/v1/messages", data=MESSAGE, headers={"x-api-key": key}
    ) as response:
        assert response.status == 200
    assert fake_upstream.requests[-1].credential == SETUP_TOKEN


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"name": "primary", "kind": "api-key", "token": API_KEY}, "exists already"),
        ({"name": "x", "kind": "password", "token": API_KEY}, "kind must be one of"),
        ({"name": "x", "kind": "api-key"}, "needs token"),
        ({"name": "x", "kind": "claude-code", "token": API_KEY}, "needs claude_home"),
        ({"name": "has space", "kind": "api-key", "token": API_KEY}, "account names use"),
        ({"name": "x", "kind": "api-key", "token": API_KEY, "colour": "red"}, "unknown field"),
        ({"name": "x", "kind": "api-key", "token": API_KEY, "weight": 0}, "weight"),
    ],
)
async def test_bad_accounts_are_refused_with_a_reason(
    router: RunningRouter,
    http: aiohttp.ClientSession,
    document: dict[str, Any],
    complaint: str,
) -> None:
    status, answer = await call(http, "POST", router.admin_url + "/api/accounts", json=document)
    assert status == 400
    assert complaint in answer["error"]["message"]
    assert API_KEY not in str(answer)
    assert set(await listed(http, router)) == {"primary"}


async def test_remove_disable_enable(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    http: aiohttp.ClientSession,
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, routing_strategy="round-robin")
    document = {"name": "team", "kind": "api-key", "token": API_KEY}
    assert (await call(http, "POST", router.admin_url + "/api/accounts", json=document))[0] == 200
    key = await router.issue_key()

    status, shown = await call(http, "POST", router.admin_url + "/api/accounts/primary/disable")
    assert (status, shown["state"]) == (200, "disabled")
    for _ in range(4):
        async with http.post(
            router.url + "/v1/messages", data=MESSAGE, headers={"x-api-key": key}
        ) as response:
            assert response.status == 200
    assert {r.credential for r in fake_upstream.requests} == {API_KEY}

    status, shown = await call(http, "POST", router.admin_url + "/api/accounts/primary/enable")
    assert (status, shown["state"]) == (200, "ready")

    status, answer = await call(http, "DELETE", router.admin_url + "/api/accounts/primary")
    assert status == 400 and "comes from the settings" in answer["error"]["message"]
    assert (await call(http, "DELETE", router.admin_url + "/api/accounts/nobody"))[0] == 404
    assert (await call(http, "POST", router.admin_url + "/api/accounts/team/explode"))[0] == 404
    assert (await call(http, "DELETE", router.admin_url + "/api/accounts/team"))[0] == 200
    assert set(await listed(http, router)) == {"primary"}


async def test_test_sends_a_free_request_with_the_account(
    router: RunningRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    status, result = await call(http, "POST", router.admin_url + "/api/accounts/primary/test")
    assert (status, result["ok"], result["status"]) == (200, True, 200)
    seen = fake_upstream.requests[-1]
    assert (seen.path, seen.credential) == ("/v1/messages/count_tokens", OAUTH_TOKEN)


async def test_the_accounts_api_needs_the_admin_key_when_one_is_set(
    start_router: StartRouter, fake_upstream: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY)
    document = {"name": "team", "kind": "api-key", "token": API_KEY}
    assert (await call(http, "GET", router.admin_url + "/v1/accounts"))[0] == 401
    assert (await call(http, "POST", router.admin_url + "/api/accounts", json=document))[0] == 401
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    status, _ = await call(http, "GET", router.admin_url + "/v1/accounts", headers=headers)
    assert status == 200


# --- CLI -----------------------------------------------------------------------------------------


async def test_cli_add_list_test_remove(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    key_file = tmp_path / "team.key"
    key_file.write_text(API_KEY + "\n")
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url}

    code, out, err = await run_cli(
        env, tmp_path, "accounts", "add", "--name", "team", "--api-key-file", str(key_file),
        "--priority", "5", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert orjson.loads(out)["priority"] == 5

    code, out, err = await run_cli(env, tmp_path, "accounts", "list", "--json")
    assert code == 0, err
    names = {account["name"]: account for account in orjson.loads(out)["data"]}
    assert set(names) == {"primary", "team"}
    assert names["team"]["kind"] == "api-key"

    code, out, err = await run_cli(env, tmp_path, "accounts", "test", "team", "--json")
    assert code == 0, err
    assert orjson.loads(out)["ok"] is True
    assert fake_upstream.requests[-1].headers["x-api-key"] == API_KEY

    code, out, err = await run_cli(env, tmp_path, "accounts", "list")
    assert code == 0 and "team" in out and "primary" in out

    code, _, err = await run_cli(env, tmp_path, "accounts", "remove", "team")
    assert code == 0, err
    code, out, _ = await run_cli(env, tmp_path, "accounts", "remove", "team")
    assert code != 0 and "no account named 'team'" in out + _
    for text in (out, err):
        assert API_KEY not in text and OAUTH_TOKEN not in text


async def test_cli_add_needs_exactly_one_source(cli_env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = await run_cli(cli_env, tmp_path, "accounts", "add", "--name", "x")
    assert code == 2
    assert "give one of" in out + err


async def test_cli_refresh_rotates_the_login(
    cli_env: dict[str, str], tmp_path: Path, token_endpoint: FakeTokenEndpoint
) -> None:
    access, refresh = token_endpoint.issue_login()
    login = claude_login(access)
    login["claudeAiOauth"]["refreshToken"] = refresh
    path = write_credentials(tmp_path / "claude", login)
    env = {**cli_env, "OAUTH_TOKEN_URL": token_endpoint.url}

    code, out, err = await run_cli(env, tmp_path, "accounts", "refresh", "primary")

    assert code == 0, out + err
    assert token_endpoint.calls == 1
    saved = orjson.loads(path.read_bytes())["claudeAiOauth"]
    assert saved["accessToken"] != access and saved["refreshToken"] != refresh
    assert saved["accessToken"] not in out + err


async def test_cli_refresh_of_a_refused_login_explains_what_to_do(
    cli_env: dict[str, str], tmp_path: Path, token_endpoint: FakeTokenEndpoint
) -> None:
    write_credentials(tmp_path / "claude", claude_login())  # its refresh token is unknown there
    env = {**cli_env, "OAUTH_TOKEN_URL": token_endpoint.url}

    code, out, err = await run_cli(env, tmp_path, "accounts", "refresh", "primary")

    assert code == 1
    assert "log in again" in out + err or "/login" in out + err
    code, out, _ = await run_cli(env, tmp_path, "accounts", "list", "--json")
    assert {a["name"]: a["state"] for a in orjson.loads(out)["data"]} == {"primary": "needs_login"}
