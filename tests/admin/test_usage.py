"""``/v1/usage`` grouped by time bucket (every bucket of the range, empty ones too), the CSV the
CLI and the console share, and ``/v1/usage/requests``."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from link_assistant_router.admin.usage import usage_csv, usage_query, usage_report
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.storage.records import USAGE_TOTALS, UsageQuery, UsageRow
from tests.conftest import RunningRouter
from tests.storage.test_usage_sql import row

HOUR = 3600
START = 20_000 * 86400  # a day boundary


def ledger_row(at: float, **values: Any) -> UsageRow:
    return row(at, key_id=values.pop("key_id", "key-a"), account="primary", **values)


async def get(router: RunningRouter, path: str, **params: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.admin_url + path, params=params) as response,
    ):
        return response.status, await response.json()


async def test_hour_buckets_fill_the_range(router: RunningRouter) -> None:
    await router.parts.store.record_usage(
        [ledger_row(START + 10), ledger_row(START + 2 * HOUR + 5, output_tokens=7)], []
    )
    status, report = await get(
        router, "/v1/usage", group_by="hour", since=str(START), until=str(START + 4 * HOUR)
    )
    assert status == 200
    assert [(row["group"], row["requests"]) for row in report["data"]] == [
        ("2024-10-04T00:00:00Z", 1),
        ("2024-10-04T01:00:00Z", 0),
        ("2024-10-04T02:00:00Z", 1),
        ("2024-10-04T03:00:00Z", 0),
    ]
    assert report["data"][2]["output_tokens"] == 7
    assert report["totals"]["requests"] == 2
    # Without a range: from the first bucket with data to the last.
    status, report = await get(router, "/v1/usage", group_by="hour")
    assert [row["group"][11:13] for row in report["data"]] == ["00", "01", "02"]


async def test_too_many_buckets_is_a_400(router: RunningRouter) -> None:
    status, body = await get(
        router, "/v1/usage", group_by="minute", since="2026-01-01", until="2026-03-01"
    )
    assert status == 400 and "narrow the range" in body["error"]["message"]


def test_a_report_and_its_csv() -> None:
    query = usage_query({"group_by": "day", "since": str(START), "until": str(START + 2 * 86400)})
    tokens = ("input_tokens", "output_tokens", "cache_creation_input_tokens")
    day = {"group": START // 86400, **dict.fromkeys(USAGE_TOTALS, 0), "requests": 3}
    day |= dict.fromkeys((*tokens, "cache_read_input_tokens"), 1) | {"cost_micros": 1220}
    report = usage_report(query, [day])
    assert usage_csv(report).splitlines() == [
        "day,requests,errors,incomplete,input_tokens,output_tokens,"
        "cache_creation_input_tokens,cache_read_input_tokens,cache_creation_5m_input_tokens,"
        "cache_creation_1h_input_tokens,web_search_requests,web_fetch_requests,cost_usd,"
        "api_equivalent_usd,unpriced_requests",
        "2024-10-04,3,0,0,1,1,1,1,0,0,0,0,0.00122,0.00,0",
        "2024-10-05,0,0,0,0,0,0,0,0,0,0,0,0.00,0.00,0",
        "total,3,0,0,1,1,1,1,0,0,0,0,0.00122,0.00,0",
    ]
    with pytest.raises(InvalidRequest):
        usage_query({"group_by": "week"})
    assert usage_report(UsageQuery(group_by="hour"), [])["data"] == []


async def test_requests_newest_first_a_page_at_a_time(router: RunningRouter) -> None:
    now = time.time()
    await router.parts.store.record_usage(
        [
            ledger_row(now - 30),
            ledger_row(now - 20, error_type="overloaded_error", status=529),
            ledger_row(now - 10, key_id="key-b"),
        ],
        [],
    )
    status, page = await get(router, "/v1/usage/requests", limit="2")
    assert status == 200
    assert [row["key_id"] for row in page["data"]] == ["key-b", "key-a"]
    assert page["data"][1]["error_type"] == "overloaded_error"
    assert page["data"][1]["complete"] is True and "day" not in page["data"][1]
    status, rest = await get(router, "/v1/usage/requests", limit="2", before=page["next_before"])
    assert [row["status"] for row in rest["data"]] == [200] and rest["next_before"] is None
    status, errors = await get(router, "/v1/usage/requests", errors="1")
    assert [row["status"] for row in errors["data"]] == [529]
    status, _ = await get(router, "/v1/usage/requests", limit="5000")
    assert status == 400
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.url + "/v1/usage/requests") as response,
    ):
        assert response.status == 403  # the admin API's rule: not on the public listener
