"""GET /metrics: parsed by prometheus_client's own parser, after real traffic through the router."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
from prometheus_client.parser import text_string_to_metric_families

from link_assistant_router.app import USAGE_FLUSH_S
from link_assistant_router.metrics import (
    DURATION_BUCKETS,
    MAX_MODEL_LABELS,
    TTFB_BUCKETS,
    Metrics,
)
from link_assistant_router.requestlog import RequestLog, Usage
from tests.conftest import (
    OAUTH_TOKEN,
    TEST_SECRET,
    RunningRouter,
    claude_login,
    run_cli,
    write_credentials,
)
from tests.fakes.oauth import FakeTokenEndpoint
from tests.fakes.upstream import USAGE, FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy

StartRouter = Callable[..., Awaitable[RunningRouter]]
MESSAGE = {
    "model": "claude-sonnet-5",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def scrape(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, str]:
    async with http.get(url + "/metrics", headers=headers) as response:
        return response.status, await response.text()


async def send(http: aiohttp.ClientSession, url: str, key: str, **extra: Any) -> int:
    headers = {"x-api-key": key, **extra.pop("headers", {})}
    async with http.post(url + "/v1/messages", json={**MESSAGE, **extra}, headers=headers) as r:
        await r.read()
        return r.status


async def test_routes_are_counted_by_name_not_by_path(router: RunningRouter) -> None:
    key = await router.issue_key()
    calls = [
        ("POST", "/v1/messages", "messages"),
        ("POST", "/api/latest/anthropic/v1/messages/count_tokens", "count_tokens"),
        ("GET", "/v1/files/file_abc123", "other_v1"),
        ("GET", "/api/tokens/0b7c", "admin"),
        ("POST", "/model/anthropic.claude-x/invoke", "bedrock"),
        ("GET", "/no/such/route", "other"),
    ]
    async with aiohttp.ClientSession() as http:
        for method, path, _ in calls:
            headers = {"x-api-key": key}
            async with http.request(method, router.url + path, json=MESSAGE, headers=headers):
                pass
        await asyncio.sleep(0.05)
        _, text = await scrape(http, router.admin_url)
    samples = parse(text)
    for _, path, name in calls:
        assert value(samples, "lar_requests_total", route=name) >= 1, (path, name)
    assert "file_abc123" not in text and "/no/such" not in text


async def test_requests_tokens_latency_and_accounts_are_counted(router: RunningRouter) -> None:
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        for stream in (False, False, True):
            assert await send(http, router.url, key, stream=stream) == 200
        assert await send(http, router.url, key, headers={"x-fake-scenario": "error-529"}) == 529
        await asyncio.sleep(0.05)  # the last request's bookkeeping follows its reply
        status, text = await scrape(http, router.admin_url)
    assert status == 200
    samples = parse(text)
    ok = {"route": "messages", "account": "primary", "model": "claude-sonnet-5"}
    assert value(samples, "lar_requests_total", status_class="2xx", **ok) == 3
    assert value(samples, "lar_requests_total", status_class="5xx", route="messages") == 1
    assert value(samples, "lar_tokens_total", type="input", account="primary") == 3 * 25
    assert (
        value(samples, "lar_tokens_total", type="cache_read")
        == 3 * USAGE["cache_read_input_tokens"]
    )
    assert value(samples, "lar_time_to_first_byte_seconds_count", route="messages") == 4
    assert value(samples, "lar_request_duration_seconds_count", route="messages") == 4
    assert value(samples, "lar_active_streams") == 0
    # The fake upstream's JSON answers report the account's windows: 5h at 0.0, 7d at 0.1.
    assert value(samples, "lar_account_utilization", account="primary", window="7d") == 0.1
    # A 529 rests the account for that model only: it stays ready, and the state says so.
    ready = {
        dict(labels)["state"]: v for (n, labels), v in samples.items() if n == "lar_account_ready"
    }
    assert ready == {"ready": 1.0}
    assert value(samples, "lar_account_window_reset_timestamp_seconds", window="5h") > 0


async def test_limit_rejections_are_counted_by_reason(router: RunningRouter) -> None:
    issued = await router.parts.keys.issue(1, "limited", limits={"rpm": 1, "models": ["x-*"]})
    async with aiohttp.ClientSession() as http:
        assert await send(http, router.url, issued.token, model="x-1") == 200
        assert await send(http, router.url, issued.token, model="x-1") == 429
        assert await send(http, router.url, issued.token) == 403
        samples = parse((await scrape(http, router.admin_url))[1])
    assert value(samples, "lar_limit_rejections_total", reason="rpm") == 1
    assert value(samples, "lar_limit_rejections_total", reason="model") == 1


async def test_refreshes_are_counted(
    start_router: StartRouter,
    fake_upstream: FakeUpstream,
    token_endpoint: FakeTokenEndpoint,
    tmp_path: Path,
) -> None:
    access, refresh = token_endpoint.issue_login()
    document = claude_login(access, 1_000_000_000_000)  # expired in 2001
    document["claudeAiOauth"]["refreshToken"] = refresh
    write_credentials(tmp_path / "claude", document)
    router = await start_router(
        login=None, upstream_base_url=fake_upstream.url, oauth_token_url=token_endpoint.url
    )
    key = await router.issue_key()
    async with aiohttp.ClientSession() as http:
        assert await send(http, router.url, key) == 200
        samples = parse((await scrape(http, router.admin_url))[1])
    assert token_endpoint.calls == 1
    assert value(samples, "lar_token_refreshes_total", outcome="ok") == 1


async def test_metrics_show_no_secret_and_follow_the_admin_rules(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(
        upstream_base_url=fake_upstream.url,
        metrics_per_key=True,
        token_admin_key="admin-" + "k" * 32,
    )
    key = await router.issue_key("per-key-label")
    async with aiohttp.ClientSession() as http:
        assert await send(http, router.url, key) == 200
        assert (await scrape(http, router.admin_url))[0] == 401
        status, text = await scrape(
            http, router.admin_url, authorization="Bearer admin-" + "k" * 32
        )
    assert status == 200
    assert value(parse(text), "lar_tokens_total", key="per-key-label", type="output") == 12
    for secret in (key, key.removeprefix("la_sk_"), OAUTH_TOKEN, TEST_SECRET, "admin-" + "k" * 32):
        assert secret not in text


async def test_disabled_metrics_are_not_found(
    start_router: StartRouter, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, disable_metrics=True)
    async with aiohttp.ClientSession() as http:
        assert (await scrape(http, router.admin_url))[0] == 404


async def test_two_workers_report_every_request_whichever_answers_the_scrape(
    cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    write_credentials(tmp_path / "claude", claude_login())
    env = {**cli_env, "UPSTREAM_BASE_URL": fake_upstream.url, "ROUTER_WORKERS": "2"}
    code, out, err = await run_cli(env, tmp_path, "tokens", "issue", "--json")
    assert code == 0, err
    key = orjson.loads(out)["token"]
    port, admin_port = free_port(), free_port()
    process = await start_serve(
        {**env, "ROUTER_PORT": str(port), "ADMIN_PORT": str(admin_port)}, tmp_path
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, process)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)  # new connections: both workers
        ) as http:
            statuses = await asyncio.gather(*(send(http, url, key) for _ in range(30)))
            assert statuses == [200] * 30
            # Each worker counts its requests into the shared files every USAGE_FLUSH_S.
            await asyncio.sleep(0.2 + USAGE_FLUSH_S)
            totals = []
            for _ in range(6):
                samples = parse((await scrape(http, f"http://127.0.0.1:{admin_port}"))[1])
                totals.append(value(samples, "lar_requests_total", route="messages"))
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)
    assert totals == [30.0] * 6


async def test_invented_model_names_do_not_grow_the_metrics(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0)
    async with aiohttp.ClientSession() as http:
        _, before = await scrape(http, router.admin_url)
        for number in range(300):
            await client.chat.completions.create(
                model=f"claude-invented-{number}", messages=[{"role": "user", "content": "hi"}]
            )
        await asyncio.sleep(0.05)
        _, after = await scrape(http, router.admin_url)
    await client.close()
    models = {
        dict(labels).get("model") for (name, labels) in parse(after) if name == "lar_requests_total"
    }
    assert len(models) <= MAX_MODEL_LABELS + 1
    assert "other" in models
    assert len(after) < len(before) + 64 * 4000  # bounded, whatever the names


def test_requests_counted_in_one_go_read_as_if_counted_one_by_one() -> None:
    """``observe`` notes, ``fold`` counts: the samples are those of prometheus_client's own
    ``Histogram.observe`` and ``Counter.inc`` called for each request, bucket bounds included."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    metrics = Metrics(per_key=True)
    reference = CollectorRegistry()
    ttfb = Histogram(
        "lar_time_to_first_byte_seconds", "", ["route"], buckets=TTFB_BUCKETS, registry=reference
    )
    duration = Histogram(
        "lar_request_duration_seconds", "", ["route"], buckets=DURATION_BUCKETS, registry=reference
    )
    tokens = Counter("lar_tokens", "", ["type", "account", "model", "key"], registry=reference)
    # On bucket bounds, between them, past the last; two routes; one request without a byte.
    firsts = [0.005, 0.0051, 0.01, 0.3, 60.0, 61.0, None]
    tooks = [0.03, 0.07, 2.0, 40.0, 700.0, 0.001, 0.2]  # measured at observe: off the bounds
    for number, (first, took) in enumerate(zip(firsts, tooks, strict=True)):
        entry = RequestLog("POST", "/v1/messages")
        entry.route = "messages" if number % 2 else "chat_completions"
        entry.status, entry.account, entry.model = 200, "primary", "claude-sonnet-5"
        entry.key_id, entry.key_label = "key-1", "laptop"
        entry.ttfb, entry.started = first, time.perf_counter() - took
        entry.usage = Usage(input_tokens=10 + number, output_tokens=number)
        metrics.observe(entry, cost_micros=1_000)
        if first is not None:
            ttfb.labels(entry.route).observe(first)
        duration.labels(entry.route).observe(took)
        tokens.labels("input", "primary", "claude-sonnet-5", "laptop").inc(10 + number)
        if number:
            tokens.labels("output", "primary", "claude-sonnet-5", "laptop").inc(number)

    def samples(registry: CollectorRegistry, names: tuple[str, ...]) -> dict[Any, float]:
        return {
            (sample.name, frozenset(sample.labels.items())): round(sample.value, 3)
            for family in registry.collect()
            for sample in family.samples
            if family.name in names and not sample.name.endswith("_created")
        }

    names = ("lar_time_to_first_byte_seconds", "lar_request_duration_seconds", "lar_tokens")
    assert samples(metrics.registry, names) == samples(reference, names)  # folded on collect
    requests = metrics.registry.get_sample_value(
        "lar_requests_total",
        {
            "route": "messages",
            "status_class": "2xx",
            "outcome": "ok",
            "account": "primary",
            "model": "claude-sonnet-5",
        },
    )
    assert requests == 3
    cost = metrics.registry.get_sample_value(
        "lar_cost_usd_total", {"account": "primary", "model": "claude-sonnet-5", "key": "laptop"}
    )
    assert cost == 7 * 1_000 / 1_000_000
