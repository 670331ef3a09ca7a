"""The keys' admin API and the key checks every proxied request goes through."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr

from link_assistant_router.admin.common import AdminAccess
from link_assistant_router.errors import AuthenticationFailed, PermissionDenied
from link_assistant_router.peers import PROXY_HEADERS
from tests.conftest import RunningRouter

StartRouter = Callable[..., Awaitable[RunningRouter]]
ADMIN_KEY = "admin-key-for-tests-" + "a" * 24


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def test_issue_list_show_revoke(router: RunningRouter, http: aiohttp.ClientSession) -> None:
    # curl -d sends a form content type: the body is JSON all the same.
    status, issued = await call(
        http, "POST", router.admin_url + "/api/tokens", data='{"ttl_hours":168,"label":"laptop"}'
    )
    assert status == 200
    assert set(issued) == {
        "token",
        "id",
        "ttl_hours",
        "label",
        "expires_at",
        "account",
        "group",
        "limits",
    }
    assert (issued["account"], issued["group"]) == (None, None)
    assert issued["token"].startswith("la_sk_")
    assert (issued["ttl_hours"], issued["label"]) == (168, "laptop")
    expires = time.mktime(time.strptime(issued["expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 168 * 3600)) < 120

    status, listing = await call(http, "GET", router.admin_url + "/api/tokens/list")
    assert status == 200
    assert [entry["id"] for entry in listing["data"]] == [issued["id"]]
    assert set(listing["data"][0]) == {
        "id",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "account",
        "group",
        "limits",
    }
    assert issued["token"] not in str(listing)

    status, shown = await call(http, "GET", router.admin_url + f"/api/tokens/{issued['id']}")
    assert (status, shown["label"], shown["revoked_at"]) == (200, "laptop", None)

    status, revoked = await call(
        http, "POST", router.admin_url + "/api/tokens/revoke", json={"id": issued["id"]}
    )
    assert status == 200
    assert revoked["revoked_at"] is not None

    status, error = await call(
        http,
        "POST",
        router.url + "/v1/messages",
        data=b"{}",
        headers={"x-api-key": issued["token"]},
    )
    assert status == 403
    assert error["error"]["type"] == "permission_error"


async def test_issue_with_defaults(router: RunningRouter, http: aiohttp.ClientSession) -> None:
    status, issued = await call(http, "POST", router.admin_url + "/api/tokens")
    assert (status, issued["ttl_hours"], issued["label"]) == (200, 24, "")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"ttl_hours": -1}',
        b'{"ttl_hours": 0}',
        b'{"ttl_hours": "soon"}',
        b'{"ttl_hours": true}',
        b'{"label": 7}',
        b'{"label": "' + b"x" * 201 + b'"}',
        b'{"ttl_hours": 1, "scope": "all"}',
    ],
)
async def test_invalid_issue_requests_are_400(
    router: RunningRouter, http: aiohttp.ClientSession, body: bytes
) -> None:
    status, error = await call(http, "POST", router.admin_url + "/api/tokens", data=body)
    assert status == 400
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert await router.parts.keys.list() == []


async def test_unknown_key_ids_are_404(router: RunningRouter, http: aiohttp.ClientSession) -> None:
    status, error = await call(http, "GET", router.admin_url + "/api/tokens/nope")
    assert (status, error["error"]["type"]) == (404, "not_found_error")
    status, error = await call(
        http, "POST", router.admin_url + "/api/tokens/revoke", json={"id": "x"}
    )
    assert (status, error["error"]["type"]) == (404, "not_found_error")
    status, error = await call(http, "POST", router.admin_url + "/api/tokens/revoke", json={})
    assert status == 400


async def test_admin_key_is_required_when_set_on_either_listener(
    start_router: StartRouter, fake_upstream: Any, http: aiohttp.ClientSession
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY)
    for base in (router.url, router.admin_url):
        url = base + "/api/tokens/list"
        status, error = await call(http, "GET", url)
        assert (status, error["error"]["type"]) == (401, "authentication_error")
        status, error = await call(http, "GET", url, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        assert ADMIN_KEY not in str(error)
        status, _ = await call(http, "GET", url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert status == 200
        status, _ = await call(http, "GET", url, headers={"x-api-key": ADMIN_KEY})
        assert status == 200


async def test_a_client_key_on_an_admin_route_is_refused_with_403(
    start_router: StartRouter, fake_upstream: Any, http: aiohttp.ClientSession
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY)
    key = await router.issue_key()
    status, error = await call(
        http, "GET", router.url + "/api/tokens/list", headers={"x-api-key": key}
    )
    assert (status, error["error"]["type"]) == (403, "permission_error")
    assert "TOKEN_ADMIN_KEY" in error["error"]["message"]
    assert key not in str(error)


async def test_without_admin_key_the_public_listener_refuses_admin_routes(
    router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    for method, path in [
        ("POST", "/api/tokens"),
        ("GET", "/api/tokens/list"),
        ("GET", "/v1/accounts"),
        ("GET", "/v1/usage"),
        ("GET", "/api/audit"),
        ("GET", "/metrics"),
    ]:
        status, error = await call(http, method, router.url + path)
        assert (status, error["error"]["type"]) == (403, "permission_error"), path
        assert "ADMIN_PORT" in error["error"]["message"]
    assert await router.parts.keys.list() == []


@pytest.mark.parametrize("header", PROXY_HEADERS)
async def test_without_admin_key_requests_naming_a_client_or_proxy_are_refused(
    router: RunningRouter, http: aiohttp.ClientSession, header: str
) -> None:
    status, error = await call(
        http, "POST", router.admin_url + "/api/tokens", headers={header: "203.0.113.9"}
    )
    assert (status, error["error"]["type"]) == (403, "permission_error")
    assert await router.parts.keys.list() == []


def _request(peer: str, port: int, headers: dict[str, str] | None = None) -> Any:
    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            if name == "peername":
                return (peer, 50000)
            if name == "sockname":
                return ("127.0.0.1", port)
            return default

    return make_mocked_request(
        "GET", "/api/tokens/list", headers=headers or {}, transport=Transport()
    )


def test_without_admin_key_only_loopback_clients_on_the_admin_listener_are_served() -> None:
    access = AdminAccess(None, 8081)
    assert access.check(_request("127.0.0.1", 8081)).kind == "loopback"
    assert access.check(_request("::1", 8081)).kind == "loopback"
    for refused in (
        _request("192.0.2.10", 8081),
        _request("127.0.0.1", 8080),
        _request("127.0.0.1", 8081, {"X-Real-IP": "198.51.100.7"}),
    ):
        with pytest.raises(PermissionDenied):
            access.check(refused)
    with pytest.raises(PermissionDenied):
        AdminAccess(None, 0).check(_request("127.0.0.1", 8081))


def test_admin_key_is_compared_whatever_the_client_address() -> None:
    with pytest.raises(AuthenticationFailed):
        AdminAccess(SecretStr(ADMIN_KEY), 8081).check(_request("127.0.0.1", 8081))
    allowed = _request("192.0.2.10", 8080, {"Authorization": f"Bearer {ADMIN_KEY}"})
    assert AdminAccess(SecretStr(ADMIN_KEY), 8081).check(allowed).kind == "admin-key"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "missing key"),
        ({"x-api-key": "sk-ant-api03-someone-elses"}, "accepts only la_sk_ keys"),
        ({"x-api-key": "la_sk_not.a.jwt"}, "malformed"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing key"),
    ],
)
async def test_bad_keys_get_401_saying_why(
    router: RunningRouter, http: aiohttp.ClientSession, headers: dict[str, str], expected: str
) -> None:
    status, error = await call(
        http, "POST", router.url + "/v1/messages", data=b"{}", headers=headers
    )
    assert status == 401
    assert error["error"]["type"] == "authentication_error"
    assert expected in error["error"]["message"]


async def test_forged_and_expired_keys_get_401(
    router: RunningRouter, http: aiohttp.ClientSession
) -> None:
    key = await router.issue_key()
    claims = jwt.decode(key[6:], options={"verify_signature": False})
    forged = "la_sk_" + jwt.encode(claims, "another-secret-" + "z" * 32, algorithm="HS256")
    expired_claims = {**claims, "exp": int(time.time()) - 10}
    secret = router.parts.settings.token_secret
    assert secret is not None
    expired = "la_sk_" + jwt.encode(expired_claims, secret.get_secret_value(), algorithm="HS256")
    for token, expected in ((forged, "signature"), (expired, "expired")):
        status, error = await call(
            http, "POST", router.url + "/v1/messages", data=b"{}", headers={"x-api-key": token}
        )
        assert status == 401
        assert expected in error["error"]["message"]
