"""``/v1/chat/completions`` end to end: the official ``openai`` SDK against the router and the
fake upstream, streaming and not, a tool-calling loop, errors in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from tests.conftest import OAUTH_TOKEN, RunningRouter
from tests.fakes.upstream import TEXT_PIECES, TOOL_INPUT, FakeUpstream

StartRouter = Callable[..., Awaitable[RunningRouter]]
API_KEY = "sk-ant-api03-team-key-for-chat-tests"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def sent(fake: FakeUpstream) -> dict[str, Any]:
    request = fake.requests[-1]
    assert request.path == "/v1/messages"
    document: dict[str, Any] = orjson.loads(request.body)
    return document


async def test_a_completion_is_translated_both_ways(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        max_tokens=50,
    )

    assert completion.choices[0].message.content == "".join(TEXT_PIECES)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o"  # the name the client asked for
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 25 + 100 + 4000  # input, cache writes and reads
    assert completion.usage.completion_tokens == 12
    body = sent(fake_upstream)
    assert body["model"].startswith("claude-sonnet")
    assert (body["system"], body["max_tokens"]) == ("Be brief.", 50)
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello"}]}
    ]
    headers = fake_upstream.requests[-1].headers
    assert headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "la_sk_" not in str(headers)


async def test_a_stream_arrives_as_chunks_with_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="claude-sonnet-5",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == "".join(TEXT_PIECES)
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 12


@pytest.mark.parametrize("stream", [False, True])
async def test_a_two_turn_tool_calling_loop(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, stream: bool
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "tool-use"  # the client's own headers are not sent on
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in await client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=[WEATHER_TOOL], stream=True
        ):
            delta = chunk.choices[0].delta if chunk.choices else None
            for call in (delta.tool_calls or []) if delta else []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function is not None:
                    entry["name"] = call.function.name or entry["name"]
                    entry["arguments"] += call.function.arguments or ""
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        assert finish == "tool_calls"
        [call] = calls.values()
        tool_call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
        )
        assert completion.choices[0].finish_reason == "tool_calls"
        [tool_call] = completion.choices[0].message.tool_calls or []
        assert tool_call.type == "function"
        tool_call_id = tool_call.id
        name, arguments = tool_call.function.name, tool_call.function.arguments
    assert (name, json.loads(arguments)) == ("get_weather", TOOL_INPUT)
    assert sent(fake_upstream)["tools"][0]["name"] == "get_weather"

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": tool_call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": tool_call_id, "content": "18 C, sunny"},
    ]
    answer = await client.chat.completions.create(
        model="gpt-4o", messages=messages, tools=[WEATHER_TOOL]
    )
    assert answer.choices[0].message.content == "".join(TEXT_PIECES)
    turns = sent(fake_upstream)["messages"]
    assert turns[1]["content"][-1] == {
        "type": "tool_use",
        "id": tool_call_id,
        "name": "get_weather",
        "input": TOOL_INPUT,
    }
    assert turns[2]["role"] == "user"
    assert turns[2]["content"][0]["type"] == "tool_result"
    assert turns[2]["content"][0]["tool_use_id"] == tool_call_id


async def test_upstream_errors_keep_their_status_in_openai_shape(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "error-429"
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "17"


async def test_untranslatable_requests_are_400_naming_the_field(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], n=2
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "n"
    assert fake_upstream.requests == []


async def test_router_errors_are_in_openai_shape(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(router.url + "/v1/chat/completions", data=b"{}") as response:
            assert response.status == 401
            error = (await response.json())["error"]
            assert error["type"] == "authentication_error"
            assert error["code"] == "invalid_api_key"
        key = await router.issue_key()
        headers = {"authorization": f"Bearer {key}"}
        async with http.post(
            router.url + "/v1/chat/completions", data=b"{not json", headers=headers
        ) as response:
            assert response.status == 400
            assert "not valid JSON" in (await response.json())["error"]["message"]
    assert fake_upstream.requests == []


async def test_api_key_accounts_serve_openai_clients_first(
    start_router: StartRouter, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, upstream_api_key=API_KEY)
    key = await router.issue_key()
    assert {account.kind for account in router.parts.pool.accounts} == {"claude-code", "api-key"}
    client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key=key, max_retries=0)
    try:
        for _ in range(4):
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await client.close()
    assert {request.headers.get("x-api-key") for request in fake_upstream.requests} == {API_KEY}
    assert sent(fake_upstream)["model"].startswith("claude-haiku")


async def test_models_are_listed_in_openai_shape_with_the_aliases(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    listing = await client.models.list()
    ids = [model.id for model in listing.data]
    assert ids[:2] == ["claude-sonnet-5", "claude-haiku-4-5"]
    assert {"gpt-4o", "gpt-4o-mini"} <= set(ids)
    first = listing.data[0]
    assert (first.object, first.owned_by, first.created) == ("model", "anthropic", 1777593600)
    assert fake_upstream.requests[-1].raw_path == "/v1/models?limit=1000"


async def test_models_with_anthropic_version_are_proxied_as_they_are(
    router: RunningRouter, fake_upstream: FakeUpstream
) -> None:
    key = await router.issue_key()
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(router.url + "/v1/models?limit=5", headers=headers) as response,
    ):
        assert response.status == 200
        listing = await response.json()
    assert listing["first_id"] == "claude-sonnet-5"  # Anthropic's shape, untouched
    assert fake_upstream.requests[-1].raw_path == "/v1/models?limit=5"


async def test_an_upstream_cut_mid_event_ends_with_an_error_chunk(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "drop"  # half an event, then the connection dies
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="lost mid-stream"):
        async for _ in stream:
            pass
