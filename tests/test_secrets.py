"""No OAuth token, refresh token, la_sk_ key or signing secret in logs or in responses."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from link_assistant_router.logs import JsonFormatter
from tests.conftest import OAUTH_TOKEN, REFRESH_TOKEN, TEST_SECRET, RunningRouter
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]


async def test_secrets_stay_out_of_logs_and_responses(
    router: RunningRouter, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await router.issue_key(label="leak-check")
    seen: list[str] = []
    async with aiohttp.ClientSession() as http:
        calls = [
            ("POST", "/v1/messages", {"x-api-key": key}, None),
            ("POST", "/v1/messages", {"Authorization": f"Bearer {key}"}, "sse"),
            ("POST", "/v1/messages", {"x-api-key": key}, "drop"),
            ("POST", "/v1/messages", {"x-api-key": key}, "error-401"),
            ("POST", "/v1/messages", {"x-api-key": key + "tampered"}, None),
            ("POST", "/v1/messages", {"x-api-key": key[:-3]}, None),
            ("GET", "/ready", {}, None),
            ("GET", "/api/tokens/list", {}, None),
            ("GET", "/nowhere", {"x-api-key": key}, None),
        ]
        for method, path, headers, scenario in calls:
            if scenario:
                headers = {**headers, "x-fake-scenario": scenario}
            async with http.request(method, router.url + path, headers=headers, data=b"{}") as r:
                seen.append(str(list(r.headers.items())) + (await r.read()).decode())
    record_text = [record.getMessage() for record in caplog.records]
    record_json = [JsonFormatter().format(record) for record in caplog.records]
    everything = "\n".join(seen + record_text + record_json)
    for secret in (OAUTH_TOKEN, REFRESH_TOKEN, TEST_SECRET, key, key[6:]):
        assert secret not in everything
    assert any("leak-check" in line for line in record_text)  # the log did see these requests


def test_json_log_lines_are_one_object_per_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.request_id = "req_1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    import orjson

    document = orjson.loads(line)
    assert document["message"] == "hello world"
    assert document["request_id"] == "req_1"
    assert document["level"] == "info"
