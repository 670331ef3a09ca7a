"""The vendored assets match their manifest; every asset a page links is served with its type;
the templates' number and time filters."""

from __future__ import annotations

import re

import aiohttp
from scripts.vendor_assets import check

from link_assistant_router.console.formatting import count, duration_ms, percent, since_now, when
from tests.conftest import RunningRouter


def test_vendored_files_match_the_manifest() -> None:
    assert check() == []


async def test_linked_assets_are_served(router: RunningRouter) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(router.admin_url + "/console/") as response:
            page = await response.text()
        links = re.findall(r'(?:href|src)="(/console/static/[^"]+)"', page)
        assert len(links) == 5
        for link in links:
            async with http.get(router.admin_url + link) as response:
                assert response.status == 200
                assert response.content_type in ("text/css", "text/javascript")
        async with http.get(router.admin_url + "/console/static/../config.py") as response:
            assert response.status == 404


def test_numbers_and_times_for_people() -> None:
    assert [count(v) for v in (0, 999, 1234, 1_234_567, 2.5e9, None)] == [
        "0",
        "999",
        "1.2 k",
        "1.2 M",
        "2.5 G",
        "-",
    ]
    assert [duration_ms(v) for v in (12.4, 3400, 125_000, None)] == [
        "12 ms",
        "3.4 s",
        "2 min 5 s",
        "-",
    ]
    assert [percent(v) for v in (0.423, 0, 0.0004, None)] == ["42%", "0%", "0.0%", "-"]
    assert since_now(1000 + 7500, now=1000) == "in 2 h 5 min"
    assert since_now(1000 - 90, now=1000) == "1 min 30 s ago"
    shown = str(when(0))
    assert shown == (
        '<time datetime="1970-01-01T00:00:00Z" title="1970-01-01 00:00:00 UTC">'
        "1970-01-01 00:00:00 UTC</time>"
    )
    assert str(when("<b>")).count("<b>") == 0
