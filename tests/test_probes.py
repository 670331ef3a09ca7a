"""Liveness, readiness and the Claude Code side calls the router answers itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from tests.conftest import RunningRouter, claude_login, write_credentials
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]


async def test_health_is_ok(router: RunningRouter) -> None:
    async with aiohttp.ClientSession() as http, http.get(router.url + "/health") as response:
        assert (response.status, await response.text()) == (200, "ok")


async def test_ready_shows_admins_the_accounts_without_their_tokens(router: RunningRouter) -> None:
    async with aiohttp.ClientSession() as http, http.get(router.admin_url + "/ready") as response:
        assert response.status == 200
        report = await response.json()
    assert report["status"] == "ready"
    assert report["store"] == "ok"
    [account] = report["accounts"]
    assert (account["name"], account["kind"]) == ("primary", "claude-code")
    assert account["state"] == "ready"
    assert account["subscription_type"] == "max"
    assert "sk-ant-" not in str(report)


async def test_ready_is_503_without_a_login(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    async with aiohttp.ClientSession() as http, http.get(router.url + "/ready") as response:
        assert response.status == 503
        report = await response.json()
    assert report["status"] == "not_ready"
    assert report["reasons"] == ["no upstream account can serve"]
    async with aiohttp.ClientSession() as http, http.get(router.admin_url + "/ready") as response:
        assert response.status == 503
        details = (await response.json())["details"]
    assert "no Claude Code login" in details[0]


async def test_public_ready_says_ready_or_not_and_nothing_about_the_accounts(
    start_router: StartRouter, fake_upstream: FakeUpstream, make_settings
) -> None:
    settings = make_settings()
    write_credentials(settings.claude_code_home, claude_login(expires_at_ms=1_000_000_000_000))
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    async with aiohttp.ClientSession() as http:
        async with http.get(router.url + "/ready") as response:
            public = await response.text()
        async with http.get(router.url + "/ready", headers={"x-real-ip": "1.2.3.4"}) as response:
            proxied = await response.text()
    assert public == proxied == '{"store":"ok","status":"ready"}'


async def test_ready_is_503_with_a_corrupt_login_and_the_router_stays_up(
    start_router: StartRouter, fake_upstream: FakeUpstream, make_settings
) -> None:
    settings = make_settings()
    write_credentials(settings.claude_code_home, b'{"claudeAiOauth": {"accessToken": "sk-ant-oa')
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    async with aiohttp.ClientSession() as http:
        async with http.get(router.admin_url + "/ready") as response:
            assert response.status == 503
            details = (await response.json())["details"]
        assert "not valid JSON" in details[0]
        assert "sk-ant-oa" not in str(details)
        async with http.get(router.url + "/health") as response:
            assert response.status == 200


async def test_an_expired_login_with_a_refresh_token_is_ready(
    start_router: StartRouter, fake_upstream: FakeUpstream, make_settings
) -> None:
    settings = make_settings()
    write_credentials(settings.claude_code_home, claude_login(expires_at_ms=1_000_000_000_000))
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    async with aiohttp.ClientSession() as http, http.get(router.admin_url + "/ready") as response:
        assert response.status == 200  # the router refreshes it on first use
        report = await response.json()
    assert report["accounts"][0]["token_expires_at"].startswith("2001-09-09")


async def test_ready_is_503_with_an_expired_login_that_cannot_refresh(
    start_router: StartRouter, fake_upstream: FakeUpstream, make_settings
) -> None:
    settings = make_settings()
    login = claude_login(expires_at_ms=1_000_000_000_000)
    del login["claudeAiOauth"]["refreshToken"]
    write_credentials(settings.claude_code_home, login)
    router = await start_router(login=None, upstream_base_url=fake_upstream.url)
    async with aiohttp.ClientSession() as http, http.get(router.admin_url + "/ready") as response:
        assert response.status == 503
        report = await response.json()
    assert "expired" in report["details"][0]
    assert "cannot be refreshed" in report["accounts"][0]["reason"]


async def test_claude_code_side_calls_are_answered_locally(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.head(router.url + "/api/hello") as response:
            assert response.status == 200
        async with http.get(router.url + "/api/hello") as response:
            assert response.status == 200
        async with http.post(
            router.url + "/api/event_logging/batch", json={"events": [{"name": "x"}]}
        ) as response:
            assert response.status == 200
    assert fake_upstream.requests == []


async def test_unknown_routes_get_an_anthropic_shaped_404(router: RunningRouter) -> None:
    async with aiohttp.ClientSession() as http, http.get(router.url + "/nowhere") as response:
        assert response.status == 404
        error = await response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "not_found_error"
    assert response.headers["request-id"] == error["request_id"]
