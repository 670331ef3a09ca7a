"""Accounts end to end: refresh, needs-login, cooldowns, failover and sticky sessions.

Real routers on 127.0.0.1 in front of the fake upstream, with the fake OAuth token endpoint
(it rotates refresh tokens and refuses a used one) for Claude Code logins.
"""

from __future__ import annotations

import asyncio
import signal
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from tests.conftest import RunningRouter, claude_login, run_cli, write_credentials
from tests.fakes.oauth import REFUSAL_DESCRIPTION, FakeTokenEndpoint
from tests.fakes.upstream import FakeUpstream, sse_events
from tests.serving import free_port, start_serve, wait_until_healthy

StartRouter = Callable[..., Awaitable[RunningRouter]]
EXPIRED_MS = 1_000_000_000_000  # 2001
TOKEN_A = "sk-ant-oat01-account-a-token"
TOKEN_B = "sk-ant-oat01-account-b-token"
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}


def login(access: str, refresh: str, expires_at_ms: int = 4_102_444_800_000) -> dict[str, Any]:
    document = claude_login(access, expires_at_ms)
    document["claudeAiOauth"]["refreshToken"] = refresh
    return document


async def send(
    http: aiohttp.ClientSession,
    router: RunningRouter,
    key: str,
    *,
    session: str | None = None,
    stream: bool = False,
) -> tuple[int, bytes]:
    headers = {"x-api-key": key, "content-type": "application/json"}
    if session is not None:
        headers["x-claude-code-session-id"] = session
    body = orjson.dumps({**MESSAGE, "stream": stream})
    async with http.post(router.url + "/v1/messages", data=body, headers=headers) as response:
        return response.status, await response.read()


async def accounts_of(http: aiohttp.ClientSession, router: RunningRouter) -> dict[str, Any]:
    async with http.get(router.admin_url + "/v1/accounts") as response:
        assert response.status == 200
        listing = await response.json()
    return {account["name"]: account for account in listing["data"]}


def served_by(fake: FakeUpstream) -> list[str]:
    return [recorded.credential for recorded in fake.requests]


async def two_account_router(
    start_router: StartRouter, fake: FakeUpstream, tmp_path: Path, **overrides: Any
) -> RunningRouter:
    """Two Claude Code logins: ``primary`` holds TOKEN_A, ``claude-b`` holds TOKEN_B."""
    write_credentials(tmp_path / "claude", login(TOKEN_A, "sk-ant-ort01-a"))
    write_credentials(tmp_path / "b", login(TOKEN_B, "sk-ant-ort01-b"))
    return await start_router(
        login=None,
        upstream_base_url=fake.url,
        additional_account_dirs=str(tmp_path / "b"),
        **overrides,
    )


# --- refresh -------------------------------------------------------------------------------------


async def test_sixteen_concurrent_requests_with_an_expired_token_make_one_refresh(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
) -> None:
    token_endpoint.delay_s = 0.2  # every request arrives while the refresh is under way
    access, refresh = token_endpoint.issue_login()
    path = write_credentials(tmp_path / "claude", login(access, refresh, EXPIRED_MS))
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, oauth_token_url=token_endpoint.url
    )
    key = await router.issue_key()

    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(send(http, router, key) for _ in range(16)))

    assert [status for status, _ in answers] == [200] * 16
    assert token_endpoint.calls == 1
    saved = orjson.loads(path.read_bytes())
    oauth = saved["claudeAiOauth"]
    assert oauth["accessToken"] != access and oauth["refreshToken"] != refresh
    assert oauth["refreshToken"] in token_endpoint.valid_refresh_tokens  # the rotated one
    assert oauth["expiresAt"] > time.time() * 1000  # milliseconds
    assert (oauth["subscriptionType"], saved["mcpOAuth"]) == ("max", {"keep": "me"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(served_by(fake_upstream)) == {oauth["accessToken"]}


async def test_an_upstream_401_for_an_expired_token_refreshes_once_and_retries(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
) -> None:
    access, refresh = token_endpoint.issue_login()
    path = write_credentials(tmp_path / "claude", login(access, refresh))  # expiry in the future
    fake_upstream.scenarios[access] = "error-401"  # ...but the upstream says it expired
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, oauth_token_url=token_endpoint.url
    )
    key = await router.issue_key()

    async with aiohttp.ClientSession() as http:
        status, body = await send(http, router, key)

    assert status == 200, body
    new_access = orjson.loads(path.read_bytes())["claudeAiOauth"]["accessToken"]
    assert served_by(fake_upstream) == [access, new_access]
    assert token_endpoint.calls == 1


async def test_two_router_processes_sharing_a_store_and_login_make_one_refresh(
    cli_env: dict[str, str],
    tmp_path: Path,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
) -> None:
    token_endpoint.delay_s = 0.5
    access, refresh = token_endpoint.issue_login()
    path = write_credentials(tmp_path / "claude", login(access, refresh, EXPIRED_MS))
    env = {
        **cli_env,
        "UPSTREAM_BASE_URL": fake_upstream.url,
        "OAUTH_TOKEN_URL": token_endpoint.url,
        "ROUTER_HOST": "127.0.0.1",
    }
    code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
    assert code == 0, err
    key = orjson.loads(out)["token"]
    ports = [free_port(), free_port()]
    processes = [await start_serve({**env, "ROUTER_PORT": str(port)}, tmp_path) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            await wait_until_healthy(url, process)
        headers = {"x-api-key": key, "content-type": "application/json"}

        async with aiohttp.ClientSession() as http:

            async def one(url: str) -> int:
                async with http.post(
                    url + "/v1/messages", data=orjson.dumps(MESSAGE), headers=headers
                ) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(one(url) for url in urls for _ in range(8)))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = await asyncio.gather(
            *(asyncio.wait_for(process.communicate(), timeout=30) for process in processes)
        )

    logs = "".join(err.decode() for _, err in outputs)
    assert statuses == [200] * 16, logs
    assert token_endpoint.calls == 1, logs
    new_access = orjson.loads(path.read_bytes())["claudeAiOauth"]["accessToken"]
    assert set(served_by(fake_upstream)) == {new_access}
    for secret in (access, refresh, new_access, key):
        assert secret not in logs


async def test_a_login_refreshed_by_someone_else_is_used_without_a_refresh(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
) -> None:
    first_access, first_refresh = token_endpoint.issue_login()
    write_credentials(tmp_path / "claude", login(first_access, first_refresh))
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, oauth_token_url=token_endpoint.url
    )
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        assert (await send(http, router, key))[0] == 200

        # A local `claude` refreshes: the file changes and the old token stops working.
        second_access, second_refresh = token_endpoint.issue_login()
        write_credentials(tmp_path / "claude", login(second_access, second_refresh))
        fake_upstream.scenarios[first_access] = "error-401"
        for _ in range(3):
            assert (await send(http, router, key))[0] == 200

    # The router re-reads the file within a second, or at once when the old token is refused.
    later = served_by(fake_upstream)[1:]
    assert later[-3:] == [second_access] * 3
    assert later.count(first_access) <= 1
    assert token_endpoint.calls == 0


async def test_a_refused_refresh_needs_a_login_and_traffic_moves_without_a_loop(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # primary's refresh token is unknown to the endpoint: it answers invalid_grant.
    write_credentials(tmp_path / "claude", login(TOKEN_A, "sk-ant-ort01-revoked", EXPIRED_MS))
    write_credentials(tmp_path / "b", login(TOKEN_B, "sk-ant-ort01-b"))
    router = await start_router(
        login=None,
        upstream_base_url=fake_upstream.url,
        oauth_token_url=token_endpoint.url,
        additional_account_dirs=str(tmp_path / "b"),
        routing_strategy="round-robin",
    )
    key = await router.issue_key()

    async with aiohttp.ClientSession() as http:
        statuses = [(await send(http, router, key))[0] for _ in range(6)]
        accounts = await accounts_of(http, router)

    assert statuses == [200] * 6
    assert set(served_by(fake_upstream)) == {TOKEN_B}
    assert token_endpoint.calls == 1  # refused once, never asked again
    primary = accounts["primary"]
    assert primary["state"] == "needs_login"
    assert "invalid_grant" in primary["reason"]
    assert "/login" in primary["what_to_do"]
    assert accounts["claude-b"]["state"] == "ready"
    assert REFUSAL_DESCRIPTION not in str(accounts)
    assert "sk-ant-" not in str(accounts)
    assert any("needs a new login" in r.getMessage() for r in caplog.records)


async def test_with_every_login_dead_the_client_gets_502_naming_them(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
) -> None:
    write_credentials(tmp_path / "claude", login(TOKEN_A, "sk-ant-ort01-revoked", EXPIRED_MS))
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, oauth_token_url=token_endpoint.url
    )
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            status, body = await send(http, router, key)
            assert status == 502
            error = orjson.loads(body)["error"]
            assert "primary" in error["message"] and "log in" in error["message"]
    assert token_endpoint.calls == 1
    assert fake_upstream.requests == []


# --- quota windows and cooldowns -----------------------------------------------------------------


async def test_a_rejected_window_cools_the_account_down_and_the_session_moves_for_good(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(start_router, fake_upstream, tmp_path)
    key = await router.issue_key()
    tokens = {"primary": TOKEN_A, "claude-b": TOKEN_B}
    async with aiohttp.ClientSession() as http:
        assert (await send(http, router, key, session="conversation"))[0] == 200
        first = served_by(fake_upstream)[-1]
        other = TOKEN_B if first == TOKEN_A else TOKEN_A
        first_name = next(name for name, token in tokens.items() if token == first)

        reset = int(time.time()) + 2
        fake_upstream.scenarios[first] = "error-429-5h"
        fake_upstream.reset = reset
        assert (await send(http, router, key, session="conversation"))[0] == 200
        assert served_by(fake_upstream)[-2:] == [first, other]  # failed over, invisibly
        cooling = (await accounts_of(http, router))[first_name]
        assert cooling["state"] == "cooling_down"
        assert cooling["cooldown_until"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))

        # The cooldown ends by itself; the conversation stays where it moved.
        del fake_upstream.scenarios[first]
        await asyncio.sleep(max(0.0, reset - time.time()) + 0.2)
        assert (await accounts_of(http, router))[first_name]["state"] == "ready"
        before = len(fake_upstream.requests)
        for _ in range(4):
            assert (await send(http, router, key, session="conversation"))[0] == 200
        assert set(served_by(fake_upstream)[before:]) == {other}


async def test_a_request_scoped_429_leaves_the_account_in_rotation(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(
        start_router, fake_upstream, tmp_path, routing_strategy="round-robin"
    )
    key = await router.issue_key()
    fake_upstream.scenarios[TOKEN_A] = "error-429-scoped"
    async with aiohttp.ClientSession() as http:
        statuses = [(await send(http, router, key))[0] for _ in range(2)]
        assert sorted(statuses) == [200, 429]  # passed through, not failed over
        del fake_upstream.scenarios[TOKEN_A]
        assert (await accounts_of(http, router))["primary"]["state"] == "ready"
        before = len(fake_upstream.requests)
        for _ in range(4):
            assert (await send(http, router, key))[0] == 200
    assert sorted(served_by(fake_upstream)[before:]) == [TOKEN_A, TOKEN_A, TOKEN_B, TOKEN_B]


async def test_cooldowns_survive_a_restart_and_all_cooling_means_429_with_retry_after(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    write_credentials(tmp_path / "claude", login(TOKEN_A, "sk-ant-ort01-a"))
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    key = await router.issue_key(ttl_hours=2)
    reset = int(time.time()) + 3600
    fake_upstream.scenarios[TOKEN_A] = "error-429-5h"
    fake_upstream.reset = reset
    async with aiohttp.ClientSession() as http:
        status, body = await send(http, router, key)
        assert status == 429  # the only account: its own answer passes through
        assert orjson.loads(body)["error"]["type"] == "rate_limit_error"
    await router.stop()

    restarted = await start_router(login=None, upstream_base_url=fake_upstream.url)
    before = len(fake_upstream.requests)
    async with aiohttp.ClientSession() as http:
        assert (await accounts_of(http, restarted))["primary"]["state"] == "cooling_down"
        headers = {"x-api-key": key, "content-type": "application/json"}
        async with http.post(
            restarted.url + "/v1/messages", data=orjson.dumps(MESSAGE), headers=headers
        ) as response:
            assert response.status == 429
            retry_after = int(response.headers["retry-after"])
            error = (await response.json())["error"]
    assert reset - time.time() - 5 <= retry_after <= reset - time.time() + 5
    assert error["type"] == "rate_limit_error"
    assert len(fake_upstream.requests) == before  # not even tried


# --- failover --------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["error-529", "stream-error", "error-429-5h"])
async def test_failover_before_the_first_byte_is_invisible_to_the_sdk(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path, failure: str
) -> None:
    router = await two_account_router(
        start_router, fake_upstream, tmp_path, routing_strategy="round-robin"
    )
    key = await router.issue_key()
    fake_upstream.scenarios[TOKEN_A] = failure
    client = anthropic.AsyncAnthropic(base_url=router.url, api_key=key, max_retries=0)
    try:
        for turn in range(2):  # round-robin: one of the two starts on the failing account
            if turn % 2:
                message = await client.messages.create(**MESSAGE)  # type: ignore[arg-type]
                text = message.content[0].text  # type: ignore[union-attr]
            else:
                async with client.messages.stream(**MESSAGE) as stream:  # type: ignore[arg-type]
                    text = "".join([piece async for piece in stream.text_stream])
            assert text == "Hello, world!"
    finally:
        await client.close()
    assert TOKEN_A in served_by(fake_upstream)  # it was tried...
    assert served_by(fake_upstream).count(TOKEN_B) == 2  # ...and B answered both


async def test_an_error_at_the_start_of_a_crlf_stream_fails_over_too(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """SSE lines may end in CRLF: the held start of such a stream is read event by event too
    (it was searched for LF blank lines only, so the error reached the client)."""
    router = await two_account_router(
        start_router, fake_upstream, tmp_path, routing_strategy="round-robin"
    )
    key = await router.issue_key()
    fake_upstream.crlf = True
    fake_upstream.scenarios[TOKEN_A] = "stream-error"
    async with aiohttp.ClientSession() as http:
        answers = [await send(http, router, key, stream=True) for _ in range(2)]
    whole = b"".join(sse_events()).replace(b"\n", b"\r\n")
    assert answers == [(200, whole), (200, whole)]
    assert served_by(fake_upstream).count(TOKEN_A) == 1  # tried once, then cooled down
    assert served_by(fake_upstream).count(TOKEN_B) == 2


async def test_an_error_after_content_reaches_the_client_as_an_sse_error_without_retry(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(
        start_router, fake_upstream, tmp_path, routing_strategy="round-robin"
    )
    key = await router.issue_key()
    fake_upstream.scenarios[TOKEN_A] = "drop"
    async with aiohttp.ClientSession() as http:
        answers = [await send(http, router, key, stream=True) for _ in range(2)]
    assert len(fake_upstream.requests) == 2  # one attempt per request: nothing retried
    dropped = [body for _, body in answers if b"event: error" in body]
    assert len(dropped) == 1
    assert b"content_block_start" in dropped[0]
    assert dropped[0].rstrip().endswith(b"}")
    assert all(status == 200 for status, _ in answers)


# --- sticky sessions -------------------------------------------------------------------------


async def test_a_session_stays_on_one_account_while_two_sessions_spread(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(start_router, fake_upstream, tmp_path)
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        for _ in range(20):
            assert (await send(http, router, key, session="first"))[0] == 200
        first = set(served_by(fake_upstream))
        for _ in range(20):
            assert (await send(http, router, key, session="second"))[0] == 200
        second = set(served_by(fake_upstream)[20:])
    assert len(first) == 1 and len(second) == 1
    assert first | second == {TOKEN_A, TOKEN_B}


async def test_sessions_interleaved_keep_their_accounts(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(start_router, fake_upstream, tmp_path)
    key = await router.issue_key()
    sessions = ["one", "two", "three", "four"]
    seen: dict[str, set[str]] = {session: set() for session in sessions}
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            for session in sessions:
                assert (await send(http, router, key, session=session))[0] == 200
                seen[session].add(served_by(fake_upstream)[-1])
    assert all(len(accounts) == 1 for accounts in seen.values())
    assert set().union(*seen.values()) == {TOKEN_A, TOKEN_B}


async def test_a_key_bound_to_an_account_uses_only_that_account(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await two_account_router(start_router, fake_upstream, tmp_path)
    key = (await router.parts.keys.issue(1, "bound", account="claude-b")).token
    async with aiohttp.ClientSession() as http:
        for session in ("one", "two", "three"):
            assert (await send(http, router, key, session=session))[0] == 200
    assert set(served_by(fake_upstream)) == {TOKEN_B}


async def test_an_overloaded_model_rests_one_account_for_that_model_only(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 529 is about a model at a moment: the request tries the next account after a short
    pause, the first overload rests one account for that model, and every other model (and
    every account's state) is untouched."""
    router = await two_account_router(
        start_router, fake_upstream, tmp_path, routing_strategy="priority"
    )
    key = await router.issue_key()
    overloaded = orjson.dumps({**MESSAGE, "model": "claude-opus-5"})
    headers = {"x-api-key": key, "x-fake-scenario": "error-529"}
    async with aiohttp.ClientSession() as http:
        async with http.post(router.url + "/v1/messages", data=overloaded, headers=headers) as r:
            assert r.status == 529  # overloaded on both accounts: the client sees it
        assert sorted(served_by(fake_upstream)) == sorted([TOKEN_A, TOKEN_B])
        rested = served_by(fake_upstream)[0]  # the first overload rests the first account
        assert caplog.text.count("rests for model") == 1
        states = {
            name: account["state"] for name, account in (await accounts_of(http, router)).items()
        }
        assert set(states.values()) == {"ready"}
        # Other models are served by every account as before.
        fake_upstream.requests.clear()
        for _ in range(2):
            assert (await send(http, router, key))[0] == 200
        assert sorted(served_by(fake_upstream)) == sorted([TOKEN_A, TOKEN_B])
        # The overloaded model tries the rested account last, whatever the rotation says.
        fake_upstream.requests.clear()
        for _ in range(2):
            async with http.post(
                router.url + "/v1/messages", data=overloaded, headers={"x-api-key": key}
            ) as r:
                assert r.status == 200
    assert rested not in served_by(fake_upstream)
