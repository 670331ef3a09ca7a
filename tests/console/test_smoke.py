from __future__ import annotations

import aiohttp

from tests.conftest import RunningRouter
from tests.console.conftest import MESSAGE, sign_in_holder, sign_in_operator


async def test_every_page_renders(
    keyed_router: RunningRouter, browser_like: aiohttp.ClientSession
) -> None:
    router = keyed_router
    key = await router.issue_key("alice")
    async with browser_like.post(
        router.url + "/v1/messages", json=MESSAGE, headers={"x-api-key": key}
    ) as r:
        assert r.status == 200
    await router.parts.ledger.flush()
    await sign_in_operator(browser_like, router.url)
    key_id = router.parts.keys.verify_signature(key)
    for path in [
        "/console/",
        "/console/keys",
        f"/console/keys/{key_id}",
        f"/console/keys/{key_id}/revoke",
        "/console/accounts",
        "/console/usage",
        "/console/usage?group_by=model",
        "/console/usage.csv",
        "/console/requests",
        "/console/audit",
        "/console/settings",
        "/console/?range=1h",
        "/console/?range=30d",
    ]:
        async with browser_like.get(router.url + path) as response:
            assert response.status == 200, (path, await response.text())
    assert await sign_in_holder(browser_like, router.url, key) == 303
    async with browser_like.get(router.url + "/me") as response:
        assert response.status == 200, await response.text()
