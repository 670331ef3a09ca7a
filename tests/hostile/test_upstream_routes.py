"""Only the routes in the table reach the upstream, under their one spelling: a key cannot use
the owner's credential for account, OAuth, organization, file or batch endpoints, odd methods,
or a path that only looks like an allowed one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from link_assistant_router.config import Settings
from link_assistant_router.routes import parse_extra_routes
from tests.conftest import RunningRouter
from tests.fakes.upstream import FakeUpstream
from tests.hostile.raw import request_bytes, send_raw

StartRouter = Callable[..., Awaitable[RunningRouter]]
BODY = b'{"model":"claude-sonnet-5","max_tokens":8,"messages":[{"role":"user","content":"x"}]}'
REFUSED = [
    ("GET", "/api/oauth/profile"),
    ("POST", "/api/oauth/claude_cli/create_api_key"),
    ("GET", "/v1/organizations/me"),
    ("GET", "/v1/files"),
    ("DELETE", "/v1/files/file_123"),
    ("POST", "/v1/messages/batches"),
    ("GET", "/v1/messages/batches/msgbatch_1/results"),
    ("TRACE", "/v1/messages"),
    ("PROPFIND", "/v1/models"),
    ("PURGE", "/v1/messages"),
    ("GET", "/v1/messages"),
    ("POST", "/v1/complete"),
    ("POST", "/api/latest/anthropic/v1/organizations/me"),
    ("GET", "/api/latest/anthropic/api/oauth/profile"),
    ("POST", "/v1/messages/../organizations/me"),
    ("POST", "/v1/messages/%2e%2e/files"),
    ("POST", "//v1/../api/oauth/claude_cli/create_api_key"),
    ("GET", "/v1/models/..%2F..%2Fv1/organizations/me"),
    ("GET", "/v1/models/%2E%2E/files"),
    ("POST", "/v1/messages/"),
    ("POST", "http://api.anthropic.com/v1/organizations/me"),
]


async def answer(router: RunningRouter, method: str, target: str, key: str) -> int | None:
    raw = request_bytes(method, target, [(b"x-api-key", key.encode())], BODY)
    return (await send_raw(router.url, raw)).status


@pytest.mark.parametrize(("method", "target"), REFUSED)
async def test_routes_outside_the_table_never_reach_the_upstream(
    router: RunningRouter, fake_upstream: FakeUpstream, method: str, target: str
) -> None:
    status = await answer(router, method, target, await router.issue_key())
    assert status in (400, 403, 404, 405), (method, target, status)
    assert fake_upstream.requests == []


@pytest.mark.parametrize(
    ("method", "target", "forwarded"),
    [
        ("POST", "/v1/messages?beta=true", "/v1/messages?beta=true"),
        ("POST", "/v1/x/../messages?beta=true", "/v1/messages?beta=true"),
        ("POST", "/v1/./messages", "/v1/messages"),
        ("POST", "//v1//messages/count_tokens", "/v1/messages/count_tokens"),
        ("POST", "http://evil.example/v1/messages?beta=true", "/v1/messages?beta=true"),
        ("POST", "/api/latest/anthropic/v1/messages", "/v1/messages"),
        ("GET", "/v1/models/claude-sonnet-5", "/v1/models/claude-sonnet-5"),
        ("GET", "/api/latest/anthropic/v1/models?limit=1000", "/v1/models?limit=1000"),
    ],
)
async def test_allowed_routes_are_forwarded_in_normal_form(
    router: RunningRouter, fake_upstream: FakeUpstream, method: str, target: str, forwarded: str
) -> None:
    status = await answer(router, method, target, await router.issue_key())
    assert status == 200
    (seen,) = fake_upstream.requests
    assert seen.raw_path == forwarded
    assert seen.method == method


async def test_the_operator_s_extra_routes_are_forwarded_and_no_more(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(
        upstream_base_url=fake_upstream.url,
        extra_upstream_routes="GET /v1/files, DELETE /v1/files/*",
    )
    key = await router.issue_key()
    assert await answer(router, "GET", "/v1/files", key) == 200
    assert await answer(router, "DELETE", "/v1/files/file_9", key) == 200
    assert await answer(router, "DELETE", "/v1/files/file_9/content", key) == 404
    assert await answer(router, "POST", "/v1/files", key) == 404
    assert [(r.method, r.raw_path) for r in fake_upstream.requests] == [
        ("GET", "/v1/files"),
        ("DELETE", "/v1/files/file_9"),
    ]
    limited = await router.parts.keys.issue(1, "haiku only", limits={"models": ["claude-haiku-*"]})
    assert await answer(router, "GET", "/v1/files", limited.token) == 403
    assert len(fake_upstream.requests) == 2


@pytest.mark.parametrize(
    "routes",
    [
        "GET /v1/organizations/me",
        "GET /v1/oauth/*",
        "POST /v1/messages/batches",
        "GET /api/oauth/profile",
        "TRACE /v1/messages",
        "GET /v1/files/../organizations",
        "GET v1/files",
        "GET /v1/files/%2e%2e",
    ],
)
def test_extra_routes_that_must_never_be_forwarded_are_refused_at_start(routes: str) -> None:
    with pytest.raises(ValidationError, match="extra_upstream_routes"):
        Settings(_env_file=None, extra_upstream_routes=routes)  # type: ignore[call-arg]


def test_extra_routes_read_star_as_one_segment() -> None:
    assert parse_extra_routes(" get /v1/files , DELETE /v1/files/*/content,") == (
        ("GET", "/v1/files"),
        ("DELETE", "/v1/files/{p0}/content"),
    )
