"""Per-key limits: the document, the windows, and enforcement against a real store with a
clock the test moves."""

from __future__ import annotations

import calendar
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from link_assistant_router.errors import InvalidRequest, PermissionDenied, RateLimited
from link_assistant_router.governance.governor import Governor, rate_headers, window_states
from link_assistant_router.governance.ledger import UsageLedger
from link_assistant_router.limits import (
    FIVE_HOURS_S,
    KeyLimits,
    calendar_span,
    parse_limits,
)
from link_assistant_router.requestlog import RequestLog, Usage
from link_assistant_router.storage.records import KeyRecord, UsageQuery, WindowTokens
from link_assistant_router.storage.sql import SqlStore, open_store

# A Wednesday, 2026-11-25 10:00:00 UTC.
NOW = float(calendar.timegm((2026, 11, 25, 10, 0, 0)))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the document --------------------------------------------------------------------------------


def test_a_full_document_round_trips() -> None:
    document = {
        "rpm": 60,
        "concurrency": 4,
        "budgets": {"5h": 1000, "month": 9000},
        "models": ["claude-sonnet-*"],
        "networks": ["10.0.0.0/8", "::1/128"],
    }
    assert parse_limits(document).to_dict() == document


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"rpm": 0}, "limits.rpm"),
        ({"rpm": True}, "limits.rpm"),
        ({"concurrency": "4"}, "limits.concurrency"),
        ({"budgets": {"hour": 5}}, "unknown window 'hour'"),
        ({"budgets": {"day": -1}}, "limits.budgets.day"),
        ({"models": "claude-*"}, "limits.models"),
        ({"networks": ["10.0.0.0/33"]}, "limits.networks"),
        ({"speed": 1}, "unknown limit(s): speed"),
        ({"budgets": {"total": 5}}, "limits.budgets: unknown window 'total'"),
        ({"budgets_usd": {"year": "$5"}}, "limits.budgets_usd: unknown window 'year'"),
        ({"budgets_usd": {"month": "fifty"}}, "limits.budgets_usd.month"),
        ({"budgets_usd": {"month": "$0"}}, "limits.budgets_usd.month must be more than"),
        ({"budgets_usd": {"month": "0.0000001"}}, "limits.budgets_usd.month"),
        ({"budgets_usd": ["month"]}, "limits.budgets_usd must be an object"),
    ],
)
def test_bad_limits_are_refused_naming_them(document: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidRequest, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_limits(document)


def test_a_change_merges_and_null_removes() -> None:
    base = parse_limits({"rpm": 10, "budgets": {"day": 5, "week": 50}, "models": ["a*"]})
    changed = parse_limits({"rpm": None, "budgets": {"day": None, "month": 7}}, base=base)
    assert changed.to_dict() == {"budgets": {"week": 50, "month": 7}, "models": ["a*"]}


def test_dollar_budgets_are_exact_text_and_may_be_written_as_the_cli_does() -> None:
    limits = parse_limits({"budgets": {"day": 1000, "month": "$50"}, "budgets_usd": {"total": 200}})
    assert (limits.budgets, limits.budgets_usd) == (
        {"day": 1000},
        {"month": 50_000_000, "total": 200_000_000},
    )
    assert limits.to_dict() == {
        "budgets": {"day": 1000},
        "budgets_usd": {"month": "50.00", "total": "200.00"},
    }
    assert parse_limits(limits.to_dict()) == limits  # as the store keeps them
    changed = parse_limits({"budgets_usd": {"month": None, "5h": "0.25"}}, base=limits)
    assert changed.to_dict()["budgets_usd"] == {"5h": "0.25", "total": "200.00"}
    assert parse_limits({"budgets_usd": None}, base=limits).to_dict() == {"budgets": {"day": 1000}}
    assert not KeyLimits(budgets_usd={"total": 1}).is_empty()


def test_models_match_globs_and_networks_match_cidrs() -> None:
    limits = KeyLimits(models=("claude-haiku-*",), networks=("10.1.0.0/16", "::1/128"))
    assert limits.allows_model("claude-haiku-4-5")
    assert not limits.allows_model("claude-opus-5")
    assert limits.allows_address("10.1.2.3")
    assert limits.allows_address("::ffff:10.1.2.3")  # IPv4 seen through an IPv6 socket
    assert limits.allows_address("::1")
    assert not limits.allows_address("10.2.0.1")
    assert not limits.allows_address(None)


# --- windows -------------------------------------------------------------------------------------


def test_calendar_windows_are_utc_days_weeks_from_monday_and_months() -> None:
    day = calendar_span("day", NOW)
    week = calendar_span("week", NOW)
    month = calendar_span("month", NOW)
    assert (day.start, day.end) == (NOW - 10 * 3600, NOW + 14 * 3600)
    assert week.start == calendar.timegm((2026, 11, 23, 0, 0, 0))  # Monday
    assert week.end - week.start == 7 * 86400
    assert (month.start, month.end) == (
        calendar.timegm((2026, 11, 1, 0, 0, 0)),
        calendar.timegm((2026, 12, 1, 0, 0, 0)),
    )
    december = calendar_span("month", calendar.timegm((2026, 12, 31, 23, 0, 0)))
    assert december.end == calendar.timegm((2027, 1, 1, 0, 0, 0))


def test_headers_say_utilization_status_and_reset_per_budgeted_window() -> None:
    limits = KeyLimits(budgets={"5h": 1000, "week": 10_000})
    states = window_states(limits, {}, 800.0, NOW)
    headers = dict(rate_headers(states, NOW))
    assert headers["anthropic-ratelimit-unified-5h-utilization"] == "0.8000"
    assert headers["anthropic-ratelimit-unified-5h-status"] == "allowed_warning"
    assert headers["anthropic-ratelimit-unified-5h-reset"] == str(int(NOW + FIVE_HOURS_S))
    assert headers["anthropic-ratelimit-unified-7d-utilization"] == "0.0800"
    assert headers["anthropic-ratelimit-unified-7d-status"] == "allowed"
    assert headers["anthropic-ratelimit-unified-status"] == "allowed_warning"
    assert headers["anthropic-ratelimit-unified-representative-claim"] == "five_hour"
    assert not any("1d" in name or "1mo" in name for name in headers)  # no budget, no header


# --- enforcement with a moving clock -------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/limits.db")
    await store.open()
    yield store
    await store.close()


async def make_key(store: SqlStore, limits: KeyLimits) -> KeyRecord:
    record = KeyRecord(
        id=str(uuid.uuid4()), label="t", created_at=NOW, expires_at=NOW + 1e6, limits=limits
    )
    await store.insert_key(record)
    return record


def finished_request(key: KeyRecord, usage: Usage) -> RequestLog:
    entry = RequestLog("POST", "/v1/messages")
    entry.key_id, entry.status, entry.usage = key.id, 200, usage
    return entry


async def test_a_spent_budget_refuses_until_its_window_ends(store: SqlStore) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(budgets={"5h": 1000}))

    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    # 600 input + 300 output + 1000 cache reads at 0.1 = 1000 tokens: the budget is spent.
    ledger.record(
        finished_request(
            key, Usage(input_tokens=600, output_tokens=300, cache_read_input_tokens=1000)
        )
    )
    await ledger.flush()

    clock.now = NOW + 3600
    with pytest.raises(RateLimited) as refused:
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    # The 5-hour window began with the first recorded request: it ends at NOW + 5 h.
    assert refused.value.retry_after == pytest.approx(4 * 3600)
    assert refused.value.headers()["anthropic-ratelimit-unified-5h-status"] == "rejected"
    assert "5-hour token budget of 1,000" in refused.value.message

    clock.now = NOW + FIVE_HOURS_S + 1
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)  # a new window


async def test_tokens_not_yet_flushed_count_too(store: SqlStore) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.0, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(budgets={"day": 100}))
    ledger.record(finished_request(key, Usage(input_tokens=100)))
    with pytest.raises(RateLimited):
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)


async def test_a_daily_budget_rolls_over_at_midnight_utc(store: SqlStore) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(budgets={"day": 50}))
    ledger.record(finished_request(key, Usage(output_tokens=50)))
    await ledger.flush()
    with pytest.raises(RateLimited) as refused:
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    assert refused.value.retry_after == pytest.approx(14 * 3600)
    clock.now = NOW + 14 * 3600  # midnight
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    states = {s.name: s for s in await governor.windows(key)}
    assert states["day"].used == 0
    assert states["week"].used == 50  # the week goes on


async def test_requests_per_minute_reset_at_the_next_minute(store: SqlStore) -> None:
    clock = Clock(NOW + 15)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(rpm=2))
    for _ in range(2):
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    with pytest.raises(RateLimited) as refused:
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    assert refused.value.retry_after == pytest.approx(45)
    assert refused.value.headers()["retry-after"] == "45"
    clock.now = NOW + 60
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)


async def test_a_raised_rpm_takes_effect_within_the_minute(store: SqlStore) -> None:
    clock = Clock(NOW + 15)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(rpm=1))
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    with pytest.raises(RateLimited, match="limit of 1 requests"):
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    raised = dataclasses.replace(key, limits=KeyLimits(rpm=3))  # as PATCH /api/tokens does
    for _ in range(2):
        await governor.admit(raised, RequestLog("POST", "/v1/messages"), None)
    with pytest.raises(RateLimited, match="limit of 3 requests"):
        await governor.admit(raised, RequestLog("POST", "/v1/messages"), None)


async def test_a_model_or_network_not_allowed_is_forbidden(store: SqlStore) -> None:
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90)
    governor = Governor(store, ledger)
    key = await make_key(store, KeyLimits(models=("claude-haiku-*",), networks=("10.0.0.0/8",)))
    entry = RequestLog("POST", "/v1/messages")
    entry.remote = "10.9.9.9"
    await governor.admit(key, entry, b'{"model":"claude-haiku-4-5","max_tokens":1}')
    with pytest.raises(PermissionDenied, match="claude-opus-5"):
        await governor.admit(key, entry, b'{"model":"claude-opus-5","max_tokens":1}')
    entry.remote = "192.168.1.1"
    with pytest.raises(PermissionDenied, match="network"):
        await governor.admit(key, entry, b'{"model":"claude-haiku-4-5","max_tokens":1}')


@pytest.mark.parametrize(
    "body",
    [
        b'\xef\xbb\xbf{"model":"claude-opus-5","max_tokens":1}',  # a UTF-8 BOM
        b'{"model":"claude-opus-5","max_tokens":NaN}',
        b'{"model":"claude-haiku-4-5","model":"claude-opus-5"}',  # which one wins?
        b'{"model":["claude-haiku-4-5"]}',
        b"[1, 2]",
        b'{"max_tokens":1}',
        b"not json at all",
        b'{"model":"claude-haiku-4-5"',
    ],
)
async def test_a_model_limited_key_gets_400_when_the_model_cannot_be_read(
    store: SqlStore, body: bytes
) -> None:
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90)
    governor = Governor(store, ledger)
    key = await make_key(store, KeyLimits(models=("claude-haiku-*",)))
    with pytest.raises(InvalidRequest, match="model cannot be read"):
        await governor.admit(key, RequestLog("POST", "/v1/messages"), body)
    # A request without a body names no model (GET /v1/models), and a plain one passes.
    await governor.admit(key, RequestLog("GET", "/v1/models"), None)
    nested = b'{"model":"claude-haiku-4-5","metadata":{"model":"x"},"max_tokens":1}'
    await governor.admit(key, RequestLog("POST", "/v1/messages"), nested)


def spend(ledger: UsageLedger, key: KeyRecord, output_tokens: int) -> None:
    """Record an answer of ``output_tokens`` from Claude Sonnet 5 ($10 per million: 10 µ$ each)."""
    entry = finished_request(key, Usage(output_tokens=output_tokens))
    entry.model = "claude-sonnet-5"
    ledger.record(entry)


async def test_a_spent_dollar_budget_refuses_with_429_until_its_window_ends(
    store: SqlStore,
) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, parse_limits({"budgets_usd": {"month": "$0.01"}}))
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    spend(ledger, key, 999)  # $0.00999: under
    await ledger.flush()
    clock.now += 2  # past the one-second cache of the windows
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    spend(ledger, key, 1)  # $0.01: spent (not written yet: it counts all the same)
    with pytest.raises(RateLimited) as refused:
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    assert "monthly budget of $0.01 is spent" in refused.value.message
    month_end = calendar.timegm((2026, 12, 1, 0, 0, 0))
    assert refused.value.retry_after == pytest.approx(month_end - clock.now)
    assert refused.value.headers()["anthropic-ratelimit-unified-1mo-status"] == "rejected"
    await ledger.flush()
    clock.now = month_end
    await governor.admit(key, RequestLog("POST", "/v1/messages"), None)  # a new month
    states = {state.name: state for state in await governor.windows(key)}
    assert (states["month"].cost, states["total"].cost) == (0, 10_000)


async def test_a_spent_lifetime_budget_is_final_with_403(store: SqlStore) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, parse_limits({"budgets_usd": {"total": "0.01", "day": "5"}}))
    spend(ledger, key, 1000)
    await ledger.flush()
    for later in (0, 86400, 400 * 86400):  # no window's end brings it back
        clock.now = NOW + later
        with pytest.raises(PermissionDenied, match=r"lifetime budget of \$0.01 is spent"):
            await governor.admit(key, RequestLog("POST", "/v1/messages"), None)


def test_headers_follow_the_budget_closest_to_its_limit_tokens_or_dollars() -> None:
    limits = parse_limits({"budgets": {"5h": 100_000}, "budgets_usd": {"week": "0.01", "total": 1}})
    stored = {name: WindowTokens(name, NOW - 60, 10_000, 8_000) for name in ("5h", "week", "total")}
    headers = dict(rate_headers(window_states(limits, stored, 0.0, NOW), NOW))
    unified = "anthropic-ratelimit-unified-"
    assert headers[unified + "5h-utilization"] == "0.1000"  # 10,000 of 100,000 tokens
    assert headers[unified + "7d-utilization"] == "0.8000"  # $0.008 of $0.01
    assert headers[unified + "7d-status"] == "allowed_warning"
    assert headers[unified + "total-utilization"] == "0.0080"  # $0.008 of $1
    assert unified + "total-reset" not in headers  # a lifetime has no reset
    assert headers[unified + "status"] == "allowed_warning"
    assert headers[unified + "representative-claim"] == "seven_day"
    pending = window_states(limits, stored, 0.0, NOW, pending_cost=2_000)
    assert dict(rate_headers(pending, NOW))[unified + "7d-status"] == "rejected"


class CountingStore:
    """The real store, counting the calls the governor makes to it."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await method(*args, **kwargs)

        return counted


async def test_request_grants_come_in_growing_batches(store: SqlStore) -> None:
    clock = Clock(NOW)
    counting = CountingStore(store)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(counting, ledger, clock=clock)  # type: ignore[arg-type]
    key = await make_key(store, KeyLimits(rpm=1000))
    for _ in range(50):
        await governor.admit(key, RequestLog("POST", "/v1/messages"), None)
    assert counting.calls["reserve_requests"] == 6  # 1 + 2 + 4 + 8 + 16 + 32 >= 50


async def test_a_processs_slots_are_reused_then_given_back(store: SqlStore) -> None:
    clock = Clock(NOW)
    counting = CountingStore(store)
    ledger = UsageLedger(store, cache_read_weight=0.1, retention_days=90, clock=clock)
    governor = Governor(counting, ledger, clock=clock)  # type: ignore[arg-type]
    key = await make_key(store, KeyLimits(concurrency=2))
    for _ in range(5):  # one after another: the same slot each time
        entry = RequestLog("POST", "/v1/messages")
        await governor.admit(key, entry, None)
        governor.release(entry)
    assert counting.calls["take_slot"] == 1
    other = Governor(store, ledger, clock=clock)  # another process sharing the store
    await other.admit(key, RequestLog("POST", "/v1/messages"), None)
    with pytest.raises(RateLimited):
        await other.admit(key, RequestLog("POST", "/v1/messages"), None)
    clock.now += 1.5  # the first process's slot has been idle for a second
    await governor.tick()
    await other.admit(key, RequestLog("POST", "/v1/messages"), None)


async def test_the_ledger_folds_old_days_once_a_day(store: SqlStore) -> None:
    clock = Clock(NOW)
    counting = CountingStore(store)
    ledger = UsageLedger(counting, cache_read_weight=0.1, retention_days=90, clock=clock)  # type: ignore[arg-type]
    key = await make_key(store, KeyLimits())
    old, recent = finished_request(key, Usage(input_tokens=7)), finished_request(key, Usage())
    clock.now = NOW - 100 * 86400
    ledger.record(old)
    clock.now = NOW
    ledger.record(recent)
    await ledger.flush()

    await ledger.roll_up("holder-a")
    async with store.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT COUNT(*) FROM usage_events"))).scalar_one()
        daily = (await conn.execute(text("SELECT SUM(input_tokens) FROM usage_daily"))).scalar_one()
    assert (raw, daily) == (1, 7)
    (totals,) = await store.usage_totals(UsageQuery())
    assert (totals["requests"], totals["input_tokens"]) == (2, 7)
    calls = dict(counting.calls)
    await ledger.roll_up("holder-a")  # the same day again: nothing to do, no store call
    assert counting.calls == calls


async def test_an_answers_rate_headers_are_those_of_its_check_remade_each_second(
    store: SqlStore,
) -> None:
    clock = Clock(NOW)
    ledger = UsageLedger(store, cache_read_weight=0.0, retention_days=90, clock=clock)
    governor = Governor(store, ledger, clock=clock)
    key = await make_key(store, KeyLimits(budgets={"5h": 1000}))
    unmetered = await make_key(store, KeyLimits(rpm=100))

    def utilization(entry: RequestLog) -> str:
        assert entry.rate_headers is not None
        return dict(entry.rate_headers)["anthropic-ratelimit-unified-5h-utilization"]

    first = RequestLog("POST", "/v1/messages")
    await governor.admit(key, first, None)
    ledger.record(finished_request(key, Usage(input_tokens=100)))  # 10% spent, not flushed
    same_second = RequestLog("POST", "/v1/messages")
    clock.now = NOW + 0.5
    await governor.admit(key, same_second, None)
    clock.now = NOW + 1.0
    next_second = RequestLog("POST", "/v1/messages")
    await governor.admit(key, next_second, None)
    ledger.record(finished_request(key, Usage(input_tokens=100)))
    await ledger.flush()  # written: the next check says so, within the same second
    after_flush = RequestLog("POST", "/v1/messages")
    await governor.admit(key, after_flush, None)
    no_budget = RequestLog("POST", "/v1/messages")
    await governor.admit(unmetered, no_budget, None)

    assert utilization(first) == utilization(same_second) == "0.0000"
    assert utilization(next_second) == "0.1000"
    assert utilization(after_flush) == "0.2000"
    assert no_budget.rate_headers is None  # its answers keep the upstream's headers
