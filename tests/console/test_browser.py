"""The console in a real headless Chromium (Debian's, driven by Playwright): sign in, issue a
key with limits and see its token once, send requests through the router and see them in the
charts, the keys table and the requests page, revoke the key and see its /me session end, the
CSV export equal to the CLI's, and no page with a console error or a failed asset load."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from scripts.console_screenshots import CHROMIUM, CHROMIUM_ARGS

from tests.conftest import RunningRouter, run_cli
from tests.console.conftest import ADMIN_KEY, MESSAGE, StartRouter
from tests.fakes.upstream import FakeUpstream

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class Watched:
    """A browser context whose pages report console errors, failed loads and error answers."""

    def __init__(self, context: BrowserContext, origin: str) -> None:
        self.context = context
        self.origin = origin
        self.problems: list[str] = []

    async def page(self) -> Page:
        page = await self.context.new_page()
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.url}"))

        def answered(response: Any) -> None:
            if "/static/" in response.url and response.status != 200:
                self.problems.append(f"{response.status}: {response.url}")
            if not response.url.startswith(self.origin):
                self.problems.append(f"left loopback: {response.url}")

        page.on("response", answered)
        return page


async def test_an_operator_and_a_key_holder_in_a_browser(
    browser: Browser,
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/console.db"
    router: RunningRouter = await start_router(
        upstream_base_url=fake_upstream.url,
        token_admin_key=ADMIN_KEY,
        database_url=database,
        key_cache_ttl_s=0,
    )
    operator = Watched(await browser.new_context(), router.url)
    page = await operator.page()

    # Sign in.
    await page.goto(router.url + "/console/keys")
    assert page.url.endswith("/console/sign-in")
    await page.fill("input[name=admin_key]", ADMIN_KEY)
    await page.click("button[type=submit]")
    assert page.url.endswith("/console/")
    await page.get_by_text("No keys yet").wait_for()

    # Issue a key with limits: the token is shown once.
    await page.goto(router.url + "/console/keys")
    await page.fill("input[name=label]", "browser-key")
    await page.fill("input[name=rpm]", "60")
    await page.fill("input[name=budget_day]", "1000000")
    await page.fill("input[name=budget_usd_month]", "$50")
    await page.fill("input[name=models]", "claude-*")
    await page.click("text=Issue the key")
    token = (await page.text_content("#token") or "").strip()
    assert token.startswith("la_sk_")
    assert await page.get_by_text("ANTHROPIC_API_KEY=" + token).count() == 1
    record = (await router.parts.keys.list())[0]
    assert record.limits is not None
    assert record.limits.to_dict() == {
        "rpm": 60,
        "budgets": {"day": 1_000_000},
        "budgets_usd": {"month": "50.00"},
        "models": ["claude-*"],
    }

    # Real requests through the router.
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(
                router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": token}
            ) as response:
                assert response.status == 200
    await router.parts.ledger.flush()
    await router.parts.keys.flush_last_used()

    await page.goto(router.url + "/console/keys")
    assert token not in await page.content()  # never again
    row = page.locator("#keys tbody tr", has_text="browser-key")
    assert await row.locator("meter").count() == 2  # the day's tokens, the month's dollars
    assert "-" not in (await row.locator("td").nth(4).text_content() or "-")  # last used

    await page.goto(router.url + "/console/?range=1h")
    assert await page.locator(".tile", has_text="requests").locator("strong").text_content() == "3"
    assert await page.locator("figure.chart canvas").count() == 2  # both charts drawn
    await page.goto(router.url + "/console/requests")
    assert await page.locator("table.requests tbody tr", has_text="claude-sonnet-5").count() == 3

    # The key holder's own page, in another browser.
    holder = Watched(await browser.new_context(), router.url)
    me = await holder.page()
    await me.goto(router.url + "/me")
    await me.fill("input[name=key]", token)
    await me.click("button[type=submit]")
    assert me.url.endswith("/me")
    await me.get_by_role("heading", name="browser-key").wait_for()
    assert await me.locator("table.requests tbody tr", has_text="claude-sonnet-5").count() == 3
    assert await me.locator("figure.chart canvas").count() == 1
    month = me.locator("table.windows tr", has_text="month")
    assert "$0.00366" in (await month.text_content() or "")  # 3 answers at $0.00122
    assert "$50.00" in (await month.text_content() or "")
    assert token not in await me.content()  # the page never shows or keeps the key
    storage = await me.evaluate("JSON.stringify([localStorage, sessionStorage])")
    assert "la_sk_" not in storage and "la_sk_" not in str(await holder.context.cookies())

    # CSV export equal to the CLI's.
    since, until = "2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z"
    response = await page.request.get(
        router.url + f"/console/usage.csv?range=custom&since={since}&until={until}&group_by=model"
    )
    exported = await response.text()
    code, printed, err = await run_cli(
        {**cli_env, "DATABASE_URL": database},
        tmp_path,
        "usage",
        "--csv",
        "--group-by",
        "model",
        "--since",
        since,
        "--until",
        until,
    )
    assert code == 0, err
    assert exported == printed and "claude-sonnet-5,3," in exported

    # Every operator page, then revoke with a confirmation.
    for path in (
        "/console/",
        "/console/keys",
        f"/console/keys/{record.id}",
        "/console/accounts",
        "/console/usage",
        "/console/usage?group_by=key",
        "/console/requests",
        "/console/audit",
        "/console/settings",
    ):
        await page.goto(router.url + path)
        await page.wait_for_load_state("networkidle")
    await page.goto(router.url + f"/console/keys/{record.id}")
    await page.click("text=Revoke…")
    await page.click("text=Revoke the key")
    await page.get_by_text("revoked").first.wait_for()

    # The holder's session ends at once.
    await me.goto(router.url + "/me")
    assert "/me/sign-in" in me.url
    await me.get_by_text("Your session has ended").wait_for()
    audit = [record.action for record in await router.parts.store.list_audit()]
    assert {"key.issue", "key.revoke", "console.sign_in"} <= set(audit)

    await page.wait_for_timeout(100)
    assert operator.problems == [] and holder.problems == []
    await operator.context.close()
    await holder.context.close()
