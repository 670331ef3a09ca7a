"""Console fixtures: a router with the fake upstream, HTTP sessions that keep cookies (as a
browser does), and reading a page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.conftest import RunningRouter
from tests.fakes.upstream import FakeUpstream

ADMIN_KEY = "console-admin-key-for-tests-" + "k" * 20
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
StartRouter = Callable[..., Awaitable[RunningRouter]]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
async def browser_like() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client that keeps cookies (unsafe: cookies for 127.0.0.1 too) and does not
    follow redirects unless asked."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def keyed_router(start_router: StartRouter, fake_upstream: FakeUpstream) -> RunningRouter:
    """A router whose console needs the admin key to sign in."""
    return await start_router(upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY)


async def sign_in_operator(http: aiohttp.ClientSession, url: str) -> str:
    """Sign in to the operator console; returns the CSRF token of the signed-in pages."""
    async with http.get(url + "/console/sign-in") as response:
        token = csrf_of(await response.text())
    async with http.post(
        url + "/console/sign-in",
        data={"csrf": token, "admin_key": ADMIN_KEY},
        allow_redirects=False,
    ) as response:
        assert response.status == 303, await response.text()
    async with http.get(url + "/console/keys") as response:
        assert response.status == 200
        return csrf_of(await response.text())


async def sign_in_holder(http: aiohttp.ClientSession, url: str, key: str) -> int:
    async with http.get(url + "/me/sign-in") as response:
        token = csrf_of(await response.text())
    async with http.post(
        url + "/me/sign-in", data={"csrf": token, "key": key}, allow_redirects=False
    ) as response:
        return response.status
