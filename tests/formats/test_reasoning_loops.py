"""Reasoning with tools, end to end: the openai SDK against the router and the fake upstream,
which refuses (as Anthropic does) a tool loop sent with thinking on whose assistant turn does
not begin with its signed thinking block."""

from __future__ import annotations

import logging
from typing import Any

import openai
import orjson
import pytest

from link_assistant_router.formats.sealing import PREFIX
from tests.conftest import OAUTH_TOKEN
from tests.fakes.upstream import FakeUpstream, thinking_signature

WEATHER = {"city": "Paris"}
FUNCTION: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CHAT_FUNCTION: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": FUNCTION["parameters"]},
}


@pytest.fixture
def agent(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.scenarios[OAUTH_TOKEN] = "agent"
    fake_upstream.agent_calls["get_weather"] = WEATHER
    return fake_upstream


def sent(fake: FakeUpstream, number: int = -1) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(fake.requests[number].body)
    return document


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_completions_with_reasoning_and_a_tool_takes_two_turns(
    client: openai.AsyncOpenAI, agent: FakeUpstream, stream: bool
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    options: Any = {"model": "gpt-5.1", "tools": [CHAT_FUNCTION], "reasoning_effort": "high"}
    if stream:
        calls: dict[int, Any] = {}
        async for chunk in await client.chat.completions.create(
            messages=messages, stream=True, **options
        ):
            for call in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
                known = calls.setdefault(call.index, {"id": call.id, "arguments": ""})
                known["name"] = known.get("name") or (call.function and call.function.name)
                known["arguments"] += (call.function and call.function.arguments) or ""
        [call] = calls.values()
        call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        first = await client.chat.completions.create(messages=messages, **options)
        [tool_call] = first.choices[0].message.tool_calls or []
        assert tool_call.type == "function"
        call_id = tool_call.id
        name, arguments = tool_call.function.name, tool_call.function.arguments
    assert sent(agent)["thinking"] == {"type": "adaptive"}  # Claude Sonnet 5.5 thinks adaptively
    assert sent(agent)["output_config"] == {"effort": "high"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "18 C"},
    ]
    answer = await client.chat.completions.create(messages=messages, **options)
    assert answer.choices[0].message.content == "Done: 18 C"
    assert sent(agent)["thinking"] == {"type": "between_tools"}  # no thinking block to give back


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_give_sealed_reasoning_back_and_tool_loops_keep_it(
    client: openai.AsyncOpenAI, agent: FakeUpstream, stream: bool
) -> None:
    history: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    options: Any = {
        "model": "gpt-5.1-codex",
        "tools": [FUNCTION],
        "reasoning": {"effort": "xhigh", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    if stream:
        async with client.responses.stream(input=history, **options) as events:
            kinds = [event.type async for event in events]
            first = await events.get_final_response()
        assert "response.reasoning_summary_text.delta" in kinds
    else:
        first = await client.responses.create(input=history, **options)
    reasoning, call = first.output
    assert reasoning.type == "reasoning" and call.type == "function_call"
    assert [part.text for part in reasoning.summary] == ["I should use a tool, then answer."]
    sealed = reasoning.encrypted_content
    assert sealed is not None and sealed.startswith(PREFIX)
    assert "tool" not in sealed and thinking_signature(reasoning.summary[0].text) not in sealed
    assert sent(agent)["output_config"] == {"effort": "xhigh"}

    history += [
        reasoning.model_dump(exclude_none=True),
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
    ]
    answer = await client.responses.create(input=history, **options)
    assert answer.output_text == "Done: 18 C"
    assistant = sent(agent)["messages"][1]["content"]
    assert assistant[0]["type"] == "thinking"  # restored, signature intact: the fake accepted it
    assert assistant[1]["type"] == "tool_use"
    assert sent(agent)["thinking"] == {"type": "adaptive"}


async def test_responses_without_reasoning_given_back_turn_thinking_off(
    client: openai.AsyncOpenAI, agent: FakeUpstream
) -> None:
    options: Any = {"model": "gpt-5.1", "tools": [FUNCTION], "reasoning": {"effort": "low"}}
    first = await client.responses.create(input="Weather in Paris?", **options)
    [call] = [item for item in first.output if item.type == "function_call"]
    history: Any = [
        {"role": "user", "content": "Weather in Paris?"},
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 C"},
    ]
    answer = await client.responses.create(input=history, **options)
    assert answer.output_text == "Done: 18 C"
    assert sent(agent)["thinking"] == {"type": "between_tools"}  # Sonnet 5.5's lowest setting


async def test_a_changed_sealed_reasoning_item_is_refused_naming_it(
    client: openai.AsyncOpenAI, agent: FakeUpstream
) -> None:
    options: Any = {
        "model": "gpt-5.1",
        "tools": [FUNCTION],
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
    }
    first = await client.responses.create(input="Weather?", **options)
    reasoning = first.output[0].model_dump(exclude_none=True)
    sealed = reasoning["encrypted_content"]
    for changed in (sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), "gAAAAB"):
        reasoning["encrypted_content"] = changed
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(
                model="gpt-5.1", input=[reasoning, {"role": "user", "content": "x"}]
            )
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "input[0].encrypted_content"
        assert "not sealed by this router" in caught.value.body["message"]
    assert len(agent.requests) == 1


async def test_an_unmapped_model_is_a_400_naming_it_and_the_log_says_the_field(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "link_assistant_router.access")
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="my-llama", input="hi")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "model"
    assert "'my-llama'" in caught.value.body["message"]
    assert "MODEL_ALIASES" in caught.value.body["message"]
    assert fake_upstream.requests == []
    [line] = [r.getMessage() for r in caplog.records if "/v1/responses" in r.getMessage()]
    assert "status=400" in line and "refused='model'" in line


async def test_codex_shaped_tools_reach_claude_and_calls_come_back_in_kind(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    """What Codex 0.169 sends: a namespace, a custom tool with a grammar in an additional_tools
    item, cached web search, and a built-in tool Claude has no equivalent of."""
    caplog.set_level(logging.INFO, "link_assistant_router.access")
    fake_upstream.scenarios[OAUTH_TOKEN] = "agent"
    fake_upstream.agent_calls["functions__exec"] = {"input": "text(6 * 7)"}
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}
    additional: Any = {
        "type": "additional_tools",
        "role": "developer",
        "tools": [
            {
                "type": "namespace",
                "name": "functions",
                "description": "",
                "tools": [{"type": "custom", "name": "exec", "format": grammar}],
            }
        ],
    }
    tools: Any = [
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "Agents.",
            "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}],
        },
        {"type": "web_search", "external_web_access": False},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
    ]
    raw = await client.responses.with_raw_response.create(
        model="gpt-6.1-sol", input=[additional, {"role": "user", "content": "6*7?"}], tools=tools
    )
    assert raw.headers["x-router-tools-left-out"] == "web_search, file_search"
    first = raw.parse()
    [call] = first.output
    assert call.type == "custom_tool_call"
    assert (call.namespace, call.name, call.input) == ("functions", "exec", "text(6 * 7)")
    body = sent(fake_upstream)
    assert [tool["name"] for tool in body["tools"]] == [
        "multi_agent_v1__spawn_agent",
        "functions__exec",
    ]
    assert "lark grammar" in body["tools"][1]["description"]
    assert body["model"] == "claude-opus-5-5" and body["max_tokens"] == 128_000
    line = next(r.getMessage() for r in caplog.records if "/v1/responses" in r.getMessage())
    assert "tools_left_out='web_search,file_search'" in line

    history = [
        additional,
        {"role": "user", "content": "6*7?"},
        call.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "42"},
    ]
    answer = await client.responses.create(model="gpt-6.1-sol", input=history, tools=tools)
    assert answer.output_text == "Done: 42"
    assert sent(fake_upstream)["messages"][1]["content"] == [
        {
            "type": "tool_use",
            "id": call.call_id,
            "name": "functions__exec",
            "input": {"input": "text(6 * 7)"},
        }
    ]


async def test_unsupported_tools_refuse_restores_the_strict_400(
    start_router: Any, fake_upstream: FakeUpstream
) -> None:
    router = await start_router(upstream_base_url=fake_upstream.url, unsupported_tools="refuse")
    client = openai.AsyncOpenAI(
        base_url=router.url + "/v1", api_key=await router.issue_key(), max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(
            model="gpt-5", input="hi", tools=[{"type": "code_interpreter", "container": "auto"}]
        )
    await client.close()
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "tools[0].type"
    assert "code_interpreter" in caught.value.body["message"]
    assert fake_upstream.requests == []
