"""``POST /v1/responses`` end to end: the official openai SDK against the router and the fake
upstream."""

from __future__ import annotations

import json
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import OAUTH_TOKEN
from tests.fakes.upstream import TEXT_PIECES, TOOL_INPUT, USAGE, FakeUpstream

WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def sent(fake: FakeUpstream) -> dict[str, Any]:
    request = fake.requests[-1]
    assert request.path == "/v1/messages"
    assert "la_sk_" not in str(request.headers)
    assert b"la_sk_" not in request.body
    document: dict[str, Any] = orjson.loads(request.body)
    return document


async def test_a_response_is_translated_both_ways(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    response = await client.responses.create(
        model="gpt-4o", input="Say hello", instructions="Be brief.", max_output_tokens=50
    )
    assert response.output_text == "".join(TEXT_PIECES)
    assert response.status == "completed" and response.model == "gpt-4o"
    assert (response.instructions, response.max_output_tokens) == ("Be brief.", 50)  # echoed
    assert response.usage is not None
    assert response.usage.input_tokens == 25 + 100 + 4000
    assert response.usage.input_tokens_details.cached_tokens == 4000
    assert response.usage.output_tokens == USAGE["output_tokens"]
    body = sent(fake_upstream)
    assert body["model"].startswith("claude-sonnet")
    assert (body["system"], body["max_tokens"]) == ("Be brief.", 50)
    assert fake_upstream.requests[-1].headers["authorization"] == f"Bearer {OAUTH_TOKEN}"


async def test_a_stream_arrives_as_events_in_order(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    kinds = []
    text = ""
    final = None
    async for event in await client.responses.create(model="gpt-4o", input="hi", stream=True):
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type == "response.completed":
            final = event.response
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * len(TEXT_PIECES),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert text == "".join(TEXT_PIECES)
    assert final is not None and final.output_text == text
    assert final.usage is not None and final.usage.output_tokens == USAGE["output_tokens"]
    assert sent(fake_upstream)["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
async def test_a_two_turn_function_calling_loop(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, stream: bool
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "tool-use"
    items: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        async with client.responses.stream(
            model="gpt-4o", input=items, tools=[WEATHER_TOOL]
        ) as events:
            kinds = [event.type async for event in events]
            first = await events.get_final_response()
        calling = kinds[kinds.index("response.output_item.done") + 1 :]
        assert calling == [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    else:
        first = await client.responses.create(model="gpt-4o", input=items, tools=[WEATHER_TOOL])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert [tool.name for tool in first.tools] == ["get_weather"]  # type: ignore[union-attr]
    assert (call.name, json.loads(call.arguments)) == ("get_weather", TOOL_INPUT)
    assert sent(fake_upstream)["tools"][0]["name"] == "get_weather"

    items += [
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C, sunny"},
    ]
    answer = await client.responses.create(model="gpt-4o", input=items, tools=[WEATHER_TOOL])
    assert answer.output_text == "".join(TEXT_PIECES)
    turns = sent(fake_upstream)["messages"]
    assert turns[1]["content"][-1] == {
        "type": "tool_use",
        "id": call.call_id,
        "name": "get_weather",
        "input": TOOL_INPUT,
    }
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.call_id,
        "content": "18 C, sunny",
    }


async def test_stored_responses_are_refused_naming_the_field(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="gpt-4o", input="hi", previous_response_id="resp_1")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "previous_response_id"
    assert fake_upstream.requests == []


async def test_upstream_errors_keep_their_status_in_openai_shape(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "error-429"
    with pytest.raises(openai.RateLimitError) as caught:
        await client.responses.create(model="gpt-4o", input="hi")
    assert caught.value.response.headers["retry-after"] == "17"


async def test_an_upstream_cut_mid_event_ends_with_response_failed(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.scenarios[OAUTH_TOKEN] = "drop"  # half an event, then the connection dies
    kinds = []
    async for event in await client.responses.create(model="gpt-4o", input="hi", stream=True):
        kinds.append(event.type)
        if event.type == "response.failed":
            assert event.response.error is not None
            assert "lost mid-stream" in event.response.error.message
    assert kinds[-1] == "response.failed"
