"""Screenshots of every console page, light and dark, into docs/console/.

    .venv/bin/python scripts/console_screenshots.py

Runs a router on 127.0.0.1 with a fake upstream (tests/fakes), a few keys and a week of made-up
ledger rows, signs in, and has Debian's Chromium (through Playwright) take each page.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import claude_login, write_credentials  # noqa: E402
from tests.fakes.upstream import running_fake_upstream  # noqa: E402

from link_assistant_router.app import ROUTER, create_app  # noqa: E402
from link_assistant_router.config import Settings  # noqa: E402
from link_assistant_router.server import make_runner  # noqa: E402
from link_assistant_router.storage.records import UsageRow  # noqa: E402
from scripts.usage_scale import rows  # noqa: E402

OUT = ROOT / "docs" / "console"
ADMIN_KEY = "screenshots-admin-key-" + "s" * 24
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def ledger(keys: list[str], now: float, count: int) -> list[UsageRow]:
    """Made-up requests over the last week (``usage_scale``'s), busier in working hours."""
    generator = random.Random(14)  # noqa: S311 (made-up data)
    made = [row for batch in rows(count, 7, keys, now) for row in batch]
    return [
        row for row in made if 7 <= time.gmtime(row.at).tm_hour <= 20 or generator.random() < 0.3
    ]


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="lar-shots-"))
    async with running_fake_upstream() as fake:
        fake.utilization["sk-ant-oat01-test-access-token-DO-NOT-LEAK"] = 0.42
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=home / "data",
            claude_code_home=home / "claude",
            upstream_base_url=fake.url,
            token_admin_key=ADMIN_KEY,
            token_secret="screenshots-signing-secret-" + "x" * 32,
            admin_port=0,
            public_url="https://router.example.com",
        )
        write_credentials(settings.claude_code_home, claude_login())
        app = create_app(settings)
        runner = make_runner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        parts = app[ROUTER]
        issued = [
            await parts.keys.issue(
                720,
                "alice-laptop",
                limits={"budgets": {"5h": 2_000_000, "week": 40_000_000}, "rpm": 60},
            ),
            await parts.keys.issue(
                720, "ci-runner", limits={"concurrency": 4, "models": ["claude-haiku-*"]}
            ),
            await parts.keys.issue(168, "bob-desktop"),
        ]
        ids = [key.record.id for key in issued]
        await parts.store.record_usage(ledger(ids, time.time(), 6000), [])
        import aiohttp

        async with aiohttp.ClientSession() as http:
            for key in issued:
                async with http.post(
                    url + "/v1/messages",
                    json={
                        "model": "claude-sonnet-4-5",
                        "max_tokens": 64,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                    headers={"x-api-key": key.token},
                ) as response:
                    await response.read()
        await parts.ledger.flush()
        pages = [
            ("overview", "/console/?range=7d"),
            ("keys", "/console/keys"),
            ("key", f"/console/keys/{ids[0]}"),
            ("accounts", "/console/accounts"),
            ("usage", "/console/usage?range=7d&group_by=day"),
            ("requests", "/console/requests"),
            ("audit", "/console/audit"),
            ("settings", "/console/settings"),
        ]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for scheme in ("light", "dark"):
                context = await browser.new_context(
                    color_scheme=scheme, viewport={"width": 1280, "height": 900}
                )
                page = await context.new_page()
                await page.goto(url + "/console/sign-in")
                await page.screenshot(path=OUT / f"sign-in-{scheme}.png")
                await page.fill("input[name=admin_key]", ADMIN_KEY)
                await page.click("button[type=submit]")
                for name, path in pages:
                    await page.goto(url + path)
                    await page.wait_for_timeout(300)
                    await page.screenshot(path=OUT / f"{name}-{scheme}.png", full_page=True)
                await page.goto(url + "/me/sign-in")
                await page.fill("input[name=key]", issued[0].token)
                await page.click("button[type=submit]")
                await page.wait_for_timeout(300)
                await page.screenshot(path=OUT / f"me-{scheme}.png", full_page=True)
                phone = await browser.new_context(
                    color_scheme=scheme,
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=1,
                )
                mobile = await phone.new_page()
                await mobile.goto(url + "/me/sign-in")
                await mobile.fill("input[name=key]", issued[0].token)
                await mobile.click("button[type=submit]")
                await mobile.wait_for_timeout(300)
                await mobile.screenshot(path=OUT / f"me-phone-{scheme}.png", full_page=True)
                await phone.close()
                await context.close()
            await browser.close()
        await runner.cleanup()
    print(f"screenshots in {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
