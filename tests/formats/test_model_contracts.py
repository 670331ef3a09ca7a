"""Each Claude model takes its own request shape: what the translations build for a model is
what that model takes. The openai SDK against the router and the fake upstream, which refuses
(as the API does, tests/fakes/contract.py) sampling parameters, a way of turning thinking off
or a forced tool that the model refuses."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from link_assistant_router.formats.aliases import HAIKU, OPUS, SONNET, ModelAliases
from link_assistant_router.formats.families import Families
from tests.conftest import OAUTH_TOKEN
from tests.fakes.contract import contract_refusal
from tests.fakes.upstream import FakeUpstream

CURRENT = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]
EARLIER = [
    "claude-fable-5-1",
    "claude-mythos-5",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-opus-4-7",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
]
MODELS = CURRENT + EARLIER
NO_FORCED_TOOLS = {"claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1"}
CHAT_FUNCTION: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TOOL_LOOP: Any = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
]


def sent(fake: FakeUpstream) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(fake.requests[-1].body)
    return document


def test_the_built_in_aliases_name_current_models() -> None:
    aliases = ModelAliases([])
    assert [aliases.resolve(name) for name in ("gpt-5.1", "gpt-6.1-sol", "gpt-5-mini")] == [
        SONNET,
        OPUS,
        HAIKU,
    ]
    assert sorted((SONNET, OPUS, HAIKU)) == sorted(CURRENT)


@pytest.mark.parametrize("model", MODELS)
async def test_a_temperature_reaches_only_the_models_that_take_one(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str
) -> None:
    answer = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], temperature=0.3, top_p=0.9
    )
    assert answer.choices[0].message.content == "Hello, world!"
    body = sent(fake_upstream)
    takes_sampling = model in ("claude-sonnet-4-6", "claude-haiku-4-5")
    assert ("temperature" in body, "top_p" in body) == (takes_sampling, takes_sampling)


@pytest.mark.parametrize("model", MODELS)
async def test_reasoning_effort_none_is_the_least_thinking_the_model_allows(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str
) -> None:
    await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hi"}], reasoning_effort="none"
    )
    body = sent(fake_upstream)
    expected: dict[str, Any] = {
        "claude-opus-5-5": {"output_config": {"effort": "low"}},
        "claude-sonnet-5-5": {"thinking": {"type": "between_tools"}},
        "claude-haiku-5-5": {"thinking": {"type": "disabled"}},
        "claude-fable-5-1": {"output_config": {"effort": "low"}},
        "claude-mythos-5": {"output_config": {"effort": "low"}},
        "claude-opus-5": {"thinking": {"type": "disabled"}},
        "claude-sonnet-5": {"thinking": {"type": "disabled"}},
        "claude-opus-4-7": {"output_config": {"effort": "low"}},
        "claude-sonnet-4-6": {"thinking": {"type": "disabled"}},
        "claude-haiku-4-5": {},  # thinks only when asked to
    }[model]
    assert {k: body[k] for k in ("thinking", "output_config") if k in body} == expected


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("effort", ["low", "high", "max"])
async def test_every_effort_is_a_request_the_model_takes(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str, effort: Any
) -> None:
    await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hi"}],
        reasoning_effort=effort,
        temperature=0.5,
    )
    body = sent(fake_upstream)
    assert "temperature" not in body  # thinking samples at the model's defaults
    assert body["thinking"]["type"] in ("adaptive", "enabled")


@pytest.mark.parametrize("model", MODELS)
async def test_a_tool_loop_without_thinking_blocks_continues_on_every_model(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str
) -> None:
    answer = await client.chat.completions.create(
        model=model, messages=TOOL_LOOP, tools=[CHAT_FUNCTION], reasoning_effort="high"
    )
    assert answer.choices[0].finish_reason == "stop"
    body = sent(fake_upstream)
    off = Families().of(model).off
    assert body.get("thinking") == ({"type": off} if off else None)


@pytest.mark.parametrize("model", MODELS)
async def test_a_forced_tool_is_refused_by_name_where_the_model_refuses_it(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str
) -> None:
    messages: Any = [{"role": "user", "content": "Weather in Paris?"}]
    fake_upstream.scenarios[OAUTH_TOKEN] = "tool-use"
    if model in NO_FORCED_TOOLS:
        with pytest.raises(openai.BadRequestError) as refused:
            await client.chat.completions.create(
                model=model, messages=messages, tools=[CHAT_FUNCTION], tool_choice="required"
            )
        assert refused.value.body["param"] == "tool_choice"  # type: ignore[index]
        assert model in refused.value.body["message"]  # type: ignore[index]
        assert fake_upstream.requests == []  # refused before it went anywhere
        return
    answer = await client.chat.completions.create(
        model=model, messages=messages, tools=[CHAT_FUNCTION], tool_choice="required"
    )
    assert answer.choices[0].message.tool_calls
    assert sent(fake_upstream)["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize("model", CURRENT)
async def test_responses_fit_the_current_models_too(
    client: openai.AsyncOpenAI, fake_upstream: FakeUpstream, model: str
) -> None:
    answer = await client.responses.create(
        model=model, input="Hi", temperature=0.2, reasoning={"effort": "none"}
    )
    assert answer.output_text == "Hello, world!"
    assert "temperature" not in sent(fake_upstream)


def test_a_claude_model_the_table_does_not_know_gets_the_strictest_shape() -> None:
    family = Families().of("claude-opus-6")
    assert (family.adaptive, family.off, family.sampling) == (True, None, False)
    assert family.forced_tools  # left to the API to judge
    assert Families().of("claude-sonnet-5-20260630") == Families().of("claude-sonnet-5")
    assert Families().of("not-claude").max_output == 4096
    assert Families([("claude-opus-5-5", 1000)]).of("claude-opus-5-5").off is None


@pytest.mark.parametrize(
    ("model", "document", "refused"),
    [
        ("claude-sonnet-5", {"temperature": 0.3}, True),
        ("claude-sonnet-5", {"temperature": 1.0}, False),
        ("claude-sonnet-4-6", {"temperature": 0.3}, False),
        ("claude-opus-5-5", {"thinking": {"type": "disabled"}}, True),
        ("claude-opus-5", {"thinking": {"type": "disabled"}}, False),
        ("claude-haiku-5-5", {"thinking": {"type": "enabled", "budget_tokens": 2048}}, True),
        ("claude-sonnet-5-5", {"thinking": {"type": "between_tools"}}, False),
        (
            "claude-sonnet-5-5",
            {"thinking": {"type": "between_tools"}, "output_config": {"effort": "max"}},
            True,
        ),
        ("claude-sonnet-5", {"thinking": {"type": "between_tools"}}, True),
        ("claude-fable-5-1", {"tool_choice": {"type": "any"}}, True),
        ("claude-haiku-5-5", {"tool_choice": {"type": "any"}}, False),
    ],
)
def test_the_fake_refuses_what_the_api_refuses(
    model: str, document: dict[str, Any], refused: bool
) -> None:
    answer = contract_refusal({"model": model, "max_tokens": 10, "messages": [], **document})
    assert (answer is not None) == refused
