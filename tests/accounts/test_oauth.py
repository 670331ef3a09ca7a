"""The OAuth token endpoint client: grants, and failures as NeedsLogin or RefreshUnavailable."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from link_assistant_router.accounts.oauth import OAuthClient, TokenGrant
from link_assistant_router.errors import NeedsLogin, RefreshUnavailable, RouterError
from tests.fakes.oauth import (
    CLIENT_ID,
    EXPIRES_IN,
    REFUSAL_DESCRIPTION,
    FakeTokenEndpoint,
    running_fake_token_endpoint,
)

NOW = 1_800_000_000.0


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    async with running_fake_token_endpoint() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(session: aiohttp.ClientSession, url: str, *, timeout_s: float = 30.0) -> OAuthClient:
    return OAuthClient(session, url, CLIENT_ID, clock=lambda: NOW, timeout_s=timeout_s)


def assert_secret_free(error: RouterError, *secrets: str) -> None:
    for text in (error.message, str(error), repr(error)):
        for secret in secrets:
            assert secret not in text
        assert "sk-ant-" not in text
        assert REFUSAL_DESCRIPTION not in text


async def test_refresh_sends_the_documented_request_and_returns_the_rotated_pair(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    _, refresh = endpoint.issue_login()

    grant = await client(session, endpoint.url).refresh(refresh)

    assert endpoint.bodies == [
        {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID}
    ]
    assert grant.access_token.startswith("sk-ant-oat01-")
    assert grant.refresh_token.startswith("sk-ant-ort01-")
    assert grant.refresh_token != refresh
    assert grant.expires_at == NOW + EXPIRES_IN
    assert grant.token_type == "Bearer"
    assert grant.scopes == ("user:inference", "user:profile")
    assert (grant.account_uuid, grant.organization_uuid) == ("acct-fake-0001", "org-fake-0001")
    assert grant.organization_name == "Fake Organization"
    assert grant.access_token not in repr(grant)
    assert grant.refresh_token not in repr(grant)
    assert "sk-ant-" not in repr(grant)


async def test_a_spent_refresh_token_needs_a_login_and_says_what_to_do(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    oauth = client(session, endpoint.url)
    _, refresh = endpoint.issue_login()
    grant = await oauth.refresh(refresh)

    with pytest.raises(NeedsLogin) as caught:
        await oauth.refresh(refresh)

    assert endpoint.calls == 2
    assert "HTTP 400, invalid_grant" in caught.value.message
    assert "`claude`" in caught.value.message
    assert "/login" in caught.value.message
    assert "setup-token" in caught.value.message
    assert_secret_free(caught.value, refresh, grant.access_token, grant.refresh_token)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "invalid_request"}, NeedsLogin),
        (401, {"error": "unauthorized_client"}, NeedsLogin),
        (403, b"<html>forbidden</html>", NeedsLogin),
        (500, {"error": "invalid_grant"}, NeedsLogin),
        (200, {"error": "invalid_grant"}, NeedsLogin),
        (404, b"not here", RefreshUnavailable),
        (429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, RefreshUnavailable),
        (500, None, RefreshUnavailable),
        (502, b"<html>bad gateway</html>", RefreshUnavailable),
        (503, b"", RefreshUnavailable),
        (529, {"error": {"type": "overloaded_error", "message": "Overloaded"}}, RefreshUnavailable),
        (200, b"{not json", RefreshUnavailable),
        (200, b"[1, 2]", RefreshUnavailable),
        (200, {"token_type": "Bearer", "expires_in": 28800}, RefreshUnavailable),
        (200, {"access_token": "sk-ant-oat01-x", "expires_in": "soon"}, RefreshUnavailable),
    ],
)
async def test_endpoint_answers_map_to_one_error_each(
    endpoint: FakeTokenEndpoint,
    session: aiohttp.ClientSession,
    status: int,
    body: object,
    expected: type[RouterError],
) -> None:
    endpoint.fail(status, body)
    _, refresh = endpoint.issue_login()

    with pytest.raises(RouterError) as caught:
        await client(session, endpoint.url).refresh(refresh)

    assert type(caught.value) is expected
    assert endpoint.calls == 1
    assert_secret_free(caught.value, refresh)


async def test_a_missing_endpoint_points_at_the_setting(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.fail(404, b"Not Found")

    with pytest.raises(RefreshUnavailable, match="OAUTH_TOKEN_URL"):
        await client(session, endpoint.url).refresh("sk-ant-ort01-whatever")


async def test_only_a_plain_oauth_error_code_is_repeated(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    echoed = "sk-ant-ort01-echoed-back-by-a-confused-endpoint"
    endpoint.fail(400, {"error": echoed, "error_description": echoed})

    with pytest.raises(NeedsLogin) as caught:
        await client(session, endpoint.url).refresh(echoed)

    assert "HTTP 400)" in caught.value.message
    assert_secret_free(caught.value, echoed)


async def test_an_answer_without_a_new_refresh_token_keeps_the_old_one(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.answer_with = (
        200,
        orjson.dumps({"access_token": "sk-ant-oat01-new", "expires_in": 3600}),
    )

    grant = await client(session, endpoint.url).refresh("sk-ant-ort01-kept")

    assert grant.refresh_token == "sk-ant-ort01-kept"
    assert grant.expires_at == NOW + 3600
    assert grant.scopes == ()


async def test_an_unreachable_endpoint_is_refresh_unavailable(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: the connection is refused.
    url = f"http://127.0.0.1:{port}/v1/oauth/token"

    with pytest.raises(RefreshUnavailable, match="cannot reach") as caught:
        await client(session, url).refresh("sk-ant-ort01-unsent")

    assert_secret_free(caught.value, "sk-ant-ort01-unsent")


async def test_a_silent_endpoint_times_out_as_refresh_unavailable(
    endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession
) -> None:
    endpoint.delay_s = 5
    _, refresh = endpoint.issue_login()

    with pytest.raises(RefreshUnavailable, match="in time"):
        await client(session, endpoint.url, timeout_s=0.2).refresh(refresh)


def test_grant_repr_holds_no_tokens() -> None:
    grant = TokenGrant(
        access_token="sk-ant-oat01-secret-a", refresh_token="sk-ant-ort01-secret-r", expires_at=1.0
    )

    assert "secret" not in repr(grant)
    assert "expires_at=1.0" in repr(grant)
