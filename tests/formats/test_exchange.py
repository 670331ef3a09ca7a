"""The translated routes' one exchange, and the one stream loop every format goes through.

A format supplies only its translation; the routes answer the same upstream error alike; the
same upstream event is the same outcome in the log line, the usage ledger and the metrics,
whatever format the client speaks; translated streams count as active streams like the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from link_assistant_router.boundary import error_boundary
from link_assistant_router.formats.aliases import ModelAliases
from link_assistant_router.formats.exchange import TranslatedRoute, Translation
from link_assistant_router.proxy.sse import EventTranslator, event_object
from link_assistant_router.requestlog import Outcome
from tests.conftest import OAUTH_TOKEN, RunningRouter, ledger_rows
from tests.fakes.upstream import FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
TURN = [{"role": "user", "content": "hi"}]
# A streamed request in each client format, by the name the metrics give its route.
STREAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "messages": (
        "/v1/messages",
        {"model": "claude-sonnet-5", "max_tokens": 16, "messages": TURN, "stream": True},
    ),
    "chat_completions": (
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": TURN, "stream": True},
    ),
    "responses": ("/v1/responses", {"model": "gpt-4o", "input": "hi", "stream": True}),
    "bedrock": (
        "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream",
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": TURN},
    ),
}


async def stream(router: RunningRouter, route: str) -> bytes:
    key = await router.issue_key()
    path, body = STREAMS[route]
    async with (
        aiohttp.ClientSession() as http,
        http.post(router.url + path, json=body, headers={"authorization": f"Bearer {key}"}) as r,
    ):
        assert r.status == 200
        return await r.read()


@pytest.mark.parametrize("route", list(STREAMS))
async def test_an_upstream_drop_is_one_outcome_in_log_ledger_and_metrics(
    router: RunningRouter,
    fake_upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "drop"  # half an event, then the connection dies
    caplog.set_level(logging.INFO, "link_assistant_router.access")

    await stream(router, route)

    (row,) = await ledger_rows(router, 1)
    assert row["error_type"] == Outcome.UPSTREAM_DROPPED == "upstream_dropped"
    assert row["complete"] == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "link_assistant_router.access"]
    assert "outcome=upstream_dropped" in line
    labels = {"route": route, "status_class": "2xx", "outcome": "upstream_dropped"}
    labels |= {"account": "primary", "model": row["model"]}
    assert router.parts.metrics.registry.get_sample_value("lar_requests_total", labels) == 1


@pytest.mark.parametrize("route", ["messages", "chat_completions"])
async def test_an_upstream_silent_mid_stream_is_upstream_timeout(
    start_router: StartRouter, fake_upstream: FakeUpstream, route: str
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, upstream_idle_timeout_s=1.0)
    fake_upstream.stall_after = 5  # after the first text delta

    body = await stream(router, route)

    assert b"lost mid-stream" in body  # the client's stream ends with an error, in its format
    (row,) = await ledger_rows(router, 1)
    assert row["error_type"] == Outcome.UPSTREAM_TIMEOUT == "upstream_timeout"


@pytest.mark.parametrize("route", list(STREAMS))
async def test_every_format_counts_as_an_active_stream(
    router: RunningRouter, fake_upstream: FakeUpstream, route: str
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "slow"
    key = await router.issue_key()
    path, body = STREAMS[route]
    registry = router.parts.metrics.registry
    async with (
        aiohttp.ClientSession() as http,
        http.post(router.url + path, json=body, headers={"authorization": f"Bearer {key}"}) as r,
    ):
        await r.content.readany()  # the stream has begun
        assert registry.get_sample_value("lar_active_streams") == 1
        await r.read()
    for _ in range(100):  # the router finishes its side just after the client's last byte
        if registry.get_sample_value("lar_active_streams") == 0:
            break
        await asyncio.sleep(0.01)
    assert registry.get_sample_value("lar_active_streams") == 0


class Texts(EventTranslator):
    """A made-up stream format: each text delta's text on a line of its own."""

    def _event(self, raw: bytes) -> bytes:
        event = event_object(raw) or {}
        delta = event.get("delta") or {}
        return delta["text"].encode() + b"\n" if delta.get("type") == "text_delta" else b""


class Say(TranslatedRoute):
    """A made-up format: ``{"say": text, "stream": bool}`` in, ``{"heard": text}`` out."""

    stream_type = "text/plain"

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        body = {
            "model": self._aliases.resolve("gpt-4o"),
            "max_tokens": 16,
            "messages": [{"role": "user", "content": document["say"]}],
            "stream": document.get("stream") is True,
        }
        return Translation(
            body, convert=lambda message: {"heard": message["content"][0]["text"]}, stream=Texts
        )


async def test_a_format_supplies_only_its_translation(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    app = web.Application(middlewares=[error_boundary])
    app.router.add_post("/say", Say(router.parts.proxy, ModelAliases({})).handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = "http://{}:{}/say".format(*runner.addresses[0][:2])
    headers = {"authorization": f"Bearer {await router.issue_key()}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(url, json={"say": "hi"}) as whole:
                assert await whole.json() == {"heard": "Hello, world!"}
            async with http.post(url, json={"say": "hi", "stream": True}) as streamed:
                assert streamed.content_type == "text/plain"
                assert await streamed.read() == b"Hello\n, \nworld\n!\n"
            fake_upstream.scenarios[OAUTH_TOKEN] = "error-429"
            async with http.post(url, json={"say": "hi"}) as refused:
                assert refused.status == 429
                assert (await refused.json())["error"]["type"] == "rate_limit_error"
    finally:
        await runner.cleanup()
    sent = [request.headers for request in fake_upstream.requests]
    assert [h.get("accept") for h in sent] == [None, "text/event-stream", None]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": TURN}),
        ("/v1/responses", {"model": "gpt-4o", "input": "hi"}),
        ("/v1/models", None),
    ],
)
async def test_the_openai_routes_answer_an_upstream_error_alike(
    router: RunningRouter, fake_upstream: FakeUpstream, path: str, body: dict[str, Any] | None
) -> None:
    """The model list wrote its own error answer and lost the upstream's retry-after."""
    fake_upstream.scenarios[OAUTH_TOKEN] = "error-429"
    headers = {"authorization": f"Bearer {await router.issue_key()}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        method = http.get if body is None else http.post
        async with method(router.url + path, json=body) as response:
            assert response.status == 429
            assert response.headers["retry-after"] == "17"
            error = (await response.json())["error"]
    assert error == {
        "message": "Number of requests has exceeded",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
