"""The console under attack: forms without or with a wrong CSRF token, cross-site posts, a key
holder reaching for other keys' data or the operator's pages, a revoked key's session, HTML in a
label, sign-in brute force, a rebound host name; all refused, nothing changed."""

from __future__ import annotations

import aiohttp
from yarl import URL

from tests.conftest import RunningRouter
from tests.console.conftest import (
    ADMIN_KEY,
    StartRouter,
    csrf_of,
    sign_in_holder,
    sign_in_operator,
)
from tests.fakes.upstream import FakeUpstream

ISSUE = {"label": "mallory", "ttl_hours": "24"}


async def key_count(router: RunningRouter) -> int:
    return len(await router.parts.keys.list())


async def test_forms_without_the_right_csrf_token_change_nothing(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    csrf = await sign_in_operator(browser_like, keyed_router.url)
    url = keyed_router.url + "/console/keys"
    for form in (ISSUE, {**ISSUE, "csrf": "0" * 40}, {**ISSUE, "csrf": csrf[:-1] + "x"}):
        async with browser_like.post(url, data=form) as response:
            assert response.status == 403
            assert "reload the page" in await response.text()
    assert await key_count(keyed_router) == 0
    async with browser_like.post(url, data={**ISSUE, "csrf": csrf}) as response:
        assert response.status == 200  # the token itself works
    assert await key_count(keyed_router) == 1


async def test_cross_site_posts_are_refused(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    csrf = await sign_in_operator(browser_like, keyed_router.url)
    url = keyed_router.url + "/console/keys"
    for headers in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ):
        async with browser_like.post(url, data={**ISSUE, "csrf": csrf}, headers=headers) as r:
            assert r.status == 403, headers
    assert await key_count(keyed_router) == 0


async def test_a_key_holder_sees_their_own_key_and_nothing_else(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    router = keyed_router
    alice = await router.issue_key("alice-key")
    bob = (await router.parts.keys.issue(1, "bob-secret-label")).record
    assert await sign_in_holder(browser_like, router.url, alice) == 303
    for path in ("/me", f"/me?key={bob.id}", f"/me/?key_id={bob.id}&range=30d"):
        async with browser_like.get(router.url + path) as response:
            page = await response.text()
            assert response.status == 200
            assert "alice-key" in page and "bob-secret-label" not in page and bob.id not in page
    holder_cookie = browser_like.cookie_jar.filter_cookies(URL(router.url + "/me"))["lar_me"].value
    # The holder's session opens no operator page, under either cookie name.
    for cookie in ({"lar_me": holder_cookie}, {"lar_console": holder_cookie}):
        async with aiohttp.ClientSession(cookies=cookie) as other:
            for path in (
                "/console/",
                "/console/keys",
                f"/console/keys/{bob.id}",
                "/console/usage.csv",
            ):
                async with other.get(router.url + path, allow_redirects=False) as response:
                    assert response.status == 303, path
                    assert response.headers["location"] == "/console/sign-in"
            async with other.post(
                router.url + f"/console/keys/{bob.id}/revoke", data={"csrf": "x"}
            ) as response:
                assert response.status == 403
    assert (await router.parts.keys.get(bob.id)).revoked_at is None
    # Nor does a key sent the API's way.
    async with browser_like.get(
        router.url + "/console/keys", headers={"x-api-key": alice}, allow_redirects=False
    ) as response:
        assert response.status == 303
    # The new report routes are the admin API's: a key is refused there too.
    for path in ("/v1/usage/requests", "/v1/usage?group_by=hour"):
        async with browser_like.get(router.url + path, headers={"x-api-key": alice}) as response:
            assert response.status == 403, path


async def test_a_revoked_key_ends_its_session_at_once(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    router = keyed_router
    issued = await router.parts.keys.issue(1, "soon-revoked")
    assert await sign_in_holder(browser_like, router.url, issued.token) == 303
    async with browser_like.get(router.url + "/me") as response:
        assert response.status == 200
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as operator:
        csrf = await sign_in_operator(operator, router.url)
        async with operator.post(
            router.url + f"/console/keys/{issued.record.id}/revoke", data={"csrf": csrf}
        ) as response:
            assert response.status == 200
    async with browser_like.get(router.url + "/me", allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["location"] == "/me/sign-in?ended=1"
    async with browser_like.get(router.url + "/me/sign-in?ended=1") as response:
        assert "revoked or has expired" in await response.text()
    assert await sign_in_holder(browser_like, router.url, issued.token) == 401


async def test_a_label_holding_html_is_shown_as_text(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    label = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    key = (await keyed_router.parts.keys.issue(1, label)).record
    await sign_in_operator(browser_like, keyed_router.url)
    for path in ("/console/keys", f"/console/keys/{key.id}", f"/console/keys/{key.id}/revoke"):
        async with browser_like.get(keyed_router.url + path) as response:
            page = await response.text()
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_sign_in_is_throttled_per_address_and_audited(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    url = keyed_router.url
    async with browser_like.get(url + "/console/sign-in") as response:
        csrf = csrf_of(await response.text())
    statuses = []
    for attempt in range(12):
        form = {"csrf": csrf, "admin_key": ADMIN_KEY if attempt == 11 else f"guess-{attempt}"}
        async with browser_like.post(
            url + "/console/sign-in", data=form, allow_redirects=False
        ) as response:
            statuses.append(response.status)
    assert statuses == [401] * 10 + [429, 429]  # even the right key waits
    records = await keyed_router.parts.store.list_audit(action="console.sign_in_failed")
    assert len(records) == 10
    assert ADMIN_KEY not in str(records) and "guess-" not in str(records)
    async with browser_like.get(url + "/console/keys", allow_redirects=False) as response:
        assert response.status == 303  # not signed in


async def sign_in_by_hand(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    """Sign in with cookies handled here (the client's jar would keep a Secure cookie from
    an http:// page); returns the session cookie's Set-Cookie line and the CSRF cookie."""
    async with http.get(url + "/console/sign-in") as response:
        csrf = csrf_of(await response.text())
        csrf_cookie = response.cookies["lar_csrf"].value
        assert "HttpOnly" in response.headers["set-cookie"]
    async with http.post(
        url + "/console/sign-in",
        data={"csrf": csrf, "admin_key": ADMIN_KEY},
        cookies={"lar_csrf": csrf_cookie},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        return response.headers["set-cookie"], csrf_cookie


async def test_signing_in_and_out(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    url = keyed_router.url
    async with aiohttp.ClientSession() as plain:
        set_cookie, _ = await sign_in_by_hand(plain, url)
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Path=/console" in set_cookie and "Secure" not in set_cookie
    csrf = await sign_in_operator(browser_like, url)
    token = browser_like.cookie_jar.filter_cookies(URL(url + "/console/"))["lar_console"].value
    async with browser_like.post(url + "/console/sign-out", data={"csrf": csrf}) as response:
        assert "Sign in with the router" in await response.text()
    async with (
        aiohttp.ClientSession(cookies={"lar_console": token}) as replay,
        replay.get(url + "/console/keys", allow_redirects=False) as response,
    ):
        assert response.status == 303  # the session is gone from the store
    actions = [r.action for r in await keyed_router.parts.store.list_audit()]
    assert actions[:2] == ["console.sign_out", "console.sign_in"]


async def test_cookies_are_secure_behind_a_tls_proxy(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(
        upstream_base_url=fake_upstream.url, token_admin_key=ADMIN_KEY, behind_tls_proxy=True
    )
    async with aiohttp.ClientSession() as plain:
        set_cookie, _ = await sign_in_by_hand(plain, router.url)
    assert "lar_console=" in set_cookie and "Secure" in set_cookie and "HttpOnly" in set_cookie


async def test_headers_on_pages_and_errors(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    for path in ("/console/sign-in", "/console/keys/nothing-here", "/console/static/console.js"):
        async with browser_like.get(keyed_router.url + path, allow_redirects=False) as response:
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
    await sign_in_operator(browser_like, keyed_router.url)
    async with browser_like.get(keyed_router.url + "/console/keys/nothing-here") as response:
        assert response.status == 404 and response.content_type == "text/html"
        assert "no key with id" in await response.text()
    async with browser_like.get(keyed_router.url + "/v1/models") as response:
        assert "content-security-policy" not in response.headers  # the API is left alone


async def test_without_an_admin_key_only_the_loopback_listener_serves_it(
    router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    async with browser_like.get(router.url + "/console/") as response:
        assert response.status == 403  # the public listener
    async with browser_like.get(router.admin_url + "/console/") as response:
        assert response.status == 200
        assert "No <code>TOKEN_ADMIN_KEY</code> is set" in await response.text()
    for headers in ({"x-forwarded-for": "203.0.113.9"}, {"host": "rebound.example:8081"}):
        async with browser_like.get(router.admin_url + "/console/", headers=headers) as response:
            assert response.status == 403, headers
    # Forms still need their token there.
    async with browser_like.post(router.admin_url + "/console/keys", data=ISSUE) as response:
        assert response.status == 403
    async with browser_like.get(router.admin_url + "/console/keys") as response:
        csrf = csrf_of(await response.text())
    async with browser_like.post(
        router.admin_url + "/console/keys", data={**ISSUE, "csrf": csrf}
    ) as response:
        assert response.status == 200 and "la_sk_" in await response.text()
    assert [r.actor for r in await router.parts.store.list_audit(action="key.issue")] == [
        "loopback"
    ]


async def test_console_false_turns_it_off(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, console=False)
    async with aiohttp.ClientSession() as http:
        for path in ("/console/", "/me", "/me/sign-in", "/console/static/console.css"):
            async with http.get(router.admin_url + path) as response:
                assert response.status == 404, path
