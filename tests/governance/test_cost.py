"""What requests cost, end to end: exact costs in the ledger for JSON and streamed answers, both
cache-write tiers, web searches, the long-context tier and a stream cut half-way; a price file;
an unpriced model flagged; reports in dollars (API-equivalent for subscription accounts, by
session); the cost metric; rows spilled by the version before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.governance.spill import SpillFile
from link_assistant_router.storage.records import UsageQuery
from link_assistant_router.storage.sql import open_store
from tests.conftest import RunningRouter, ledger_rows, run_cli
from tests.fakes.upstream import USAGE, FakeUpstream
from tests.storage.conftest import TODAY
from tests.storage.test_usage_sql import row
from tests.test_metrics import parse, scrape, value

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
# Claude Sonnet 5: $2 input, $2.50 and $4 cache writes (5 minutes, 1 hour), $0.20 cache reads,
# $10 output per million tokens; $10 per 1,000 web searches.
PRICED = {
    **USAGE,  # 25 input, 12 output, 4000 cache reads
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
}
PRICED_MICROS = 25 * 2 + 12 * 10 + 2000 * 2.5 + 1000 * 4 + 4000 * 0.2 + 2 * 10_000
DEFAULT_MICROS = 25 * 2 + 12 * 10 + 100 * 2.5 + 4000 * 0.2  # USAGE's 100 writes: 5-minute


async def send(
    router: RunningRouter,
    key: str,
    *,
    stream: bool = False,
    usage: dict[str, Any] | None = None,
    **headers: str,
) -> int:
    if usage is not None:
        headers["x-fake-usage"] = orjson.dumps(usage).decode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            router.url + "/v1/messages",
            json={**MESSAGE, "stream": stream},
            headers={"x-api-key": key, **headers},
        ) as response,
    ):
        await response.read()
        return response.status


async def admin_report(router: RunningRouter, **params: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.admin_url + "/v1/usage", params=params) as response,
    ):
        assert response.status == 200
        report: dict[str, Any] = await response.json()
        return report


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_costs_exactly_its_usage_at_its_models_prices(
    router: RunningRouter, stream: bool
) -> None:
    key = await router.issue_key()
    assert await send(router, key, stream=stream, usage=PRICED) == 200
    (row,) = await ledger_rows(router, 1)
    assert (row["cache_creation_5m_input_tokens"], row["cache_creation_1h_input_tokens"]) == (
        2000,
        1000,
    )
    assert (row["web_search_requests"], row["web_fetch_requests"]) == (2, 1)
    assert row["cost_micros"] == PRICED_MICROS == 29_970
    assert (row["subscription"], row["unpriced"]) == (1, 0)  # the Claude Code login served it


async def test_the_long_context_tier_applies_above_its_prompt_size(router: RunningRouter) -> None:
    # Claude Haiku 5.5: $0.10 input, $0.01 reads, $0.50 output up to 100,000 prompt tokens;
    # five times that above.
    key = await router.issue_key()
    haiku = {"x-fake-model": "claude-haiku-5-5"}
    at = {"input_tokens": 90_000, "cache_read_input_tokens": 10_000, "output_tokens": 1000}
    at["cache_creation_input_tokens"] = 0
    assert await send(router, key, usage=at, **haiku) == 200
    assert await send(router, key, usage={**at, "cache_read_input_tokens": 10_001}, **haiku) == 200
    short, long = await ledger_rows(router, 2)
    assert short["cost_micros"] == 9000 + 100 + 500
    assert long["cost_micros"] == 45_000 + 500 + 2500  # 48,000.05: rounded once
    assert long["model"] == "claude-haiku-5-5"


async def test_a_stream_cut_half_way_costs_what_it_saw(router: RunningRouter) -> None:
    key = await router.issue_key()
    assert await send(router, key, stream=True, usage=PRICED, **{"x-fake-scenario": "drop"}) == 200
    (row,) = await ledger_rows(router, 1)
    assert row["complete"] == 0
    # message_start's counts: one output token so far, the rest as the answer began.
    assert row["cost_micros"] == PRICED_MICROS - 11 * 10


async def test_a_price_file_overrides_the_table(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        "[models.claude-sonnet-5]\n"
        "input = 3\ncache_write_5m = 3.75\ncache_write_1h = 6\ncache_read = 0.30\noutput = 15\n"
    )
    router = await start_router(upstream_base_url=fake_upstream.url, prices_file=prices)
    key = await router.issue_key()
    assert await send(router, key) == 200
    (row,) = await ledger_rows(router, 1)
    assert row["cost_micros"] == 25 * 3 + 12 * 15 + 100 * 3.75 + 4000 * 0.3 == 1830


async def test_a_model_without_a_price_costs_nothing_and_is_flagged(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream, start_router: StartRouter
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    router = await start_router(upstream_base_url=fake_upstream.url, database_url=database)
    key = await router.issue_key()
    assert await send(router, key, **{"x-fake-model": "claude-unreleased-9"}) == 200
    assert await send(router, key) == 200
    unknown, known = await ledger_rows(router, 2)
    assert (unknown["cost_micros"], unknown["unpriced"]) == (0, 1)
    assert (known["cost_micros"], known["unpriced"]) == (DEFAULT_MICROS, 0)

    report = await admin_report(router, group_by="model")
    assert report["unpriced_models"] == ["claude-unreleased-9"]
    by_model = {row["group"]: row for row in report["data"]}
    assert by_model["claude-unreleased-9"]["unpriced_requests"] == 1
    assert by_model["claude-unreleased-9"]["cost_usd"] == "0.00"
    assert report["totals"]["cost_usd"] == "0.00122"

    code, out, err = await run_cli({**cli_env, "DATABASE_URL": database}, tmp_path, "usage")
    assert code == 0, err
    assert "no price for model claude-unreleased-9" in out
    code, out, err = await run_cli(
        {**cli_env, "DATABASE_URL": database}, tmp_path, "usage", "--csv"
    )
    assert code == 0 and "no price for model claude-unreleased-9" in err
    assert out.splitlines()[0].endswith(",cost_usd,api_equivalent_usd,unpriced_requests")


async def test_reports_say_cost_per_group_and_which_part_a_subscription_served(
    start_router: StartRouter, fake_upstream: FakeUpstream, cli_env: dict[str, str], tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    router = await start_router(
        upstream_base_url=fake_upstream.url,
        upstream_api_key="sk-ant-api03-test",
        database_url=database,
    )
    keys = router.parts.keys
    on_api = (await keys.issue(1, "team", account="api-key")).token
    on_login = (await keys.issue(1, "owner", account="primary")).token
    for key, session in ((on_api, "s-1"), (on_api, "s-1"), (on_login, "s-2")):
        assert await send(router, key, **{"x-claude-code-session-id": session}) == 200
    await ledger_rows(router, 3)

    by_account = await admin_report(router, group_by="account")
    groups = {row["group"]: row for row in by_account["data"]}
    assert (groups["api-key"]["cost_usd"], groups["api-key"]["api_equivalent_usd"]) == (
        "0.00244",
        "0.00",
    )
    assert (groups["primary"]["cost_usd"], groups["primary"]["api_equivalent_usd"]) == (
        "0.00122",
        "0.00122",
    )
    assert by_account["totals"]["cost_usd"] == "0.00366"
    assert by_account["totals"]["api_equivalent_usd"] == "0.00122"

    env = {**cli_env, "DATABASE_URL": database}
    code, out, err = await run_cli(env, tmp_path, "usage", "--by", "session", "--json")
    assert code == 0, err
    sessions = {row["group"]: row["cost_usd"] for row in orjson.loads(out)["data"]}
    assert sessions == {"s-1": "0.00244", "s-2": "0.00122"}

    async with aiohttp.ClientSession() as http:
        status, text = await scrape(http, router.admin_url)
    assert status == 200
    samples = parse(text)
    assert value(samples, "lar_cost_usd_total", account="api-key") == pytest.approx(0.00244)
    assert value(samples, "lar_cost_usd_total", model="claude-sonnet-5") == pytest.approx(0.00366)


async def test_rows_spilled_before_the_cost_columns_are_written_without_a_cost(
    tmp_path: Path,
) -> None:
    """A spill file left by a router of the version before (its rows are shorter) is still
    written, with no cost."""
    directory = tmp_path / "spill"
    directory.mkdir()
    old = tuple(row(TODAY + 10))[:18]  # the columns a ledger row had before prices
    (directory / "a-stopped-router.jsonl").write_bytes(orjson.dumps(old) + b"\n")
    spill = SpillFile(directory, "this-router", 1 << 20)
    assert spill.adopt_orphans() == 1
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/ledger.db")
    await store.open()
    try:
        ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, spill=spill)
        await ledger.drain_spilled()
        (totals,) = await store.usage_totals(UsageQuery())
    finally:
        await store.close()
    assert (totals["requests"], totals["input_tokens"], totals["cost_micros"]) == (1, 10, 0)
