"""The openai-agents SDK, with reasoning and a tool, on both of OpenAI's APIs (README: "OpenAI
Agents SDK")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from openai.types.shared import Reasoning

from tests.clients.conftest import WEATHER
from tests.conftest import RunningRouter
from tests.fakes.upstream import FakeUpstream


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return WEATHER


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_an_agent_with_reasoning_calls_a_tool_and_answers(
    offline: None, router: RunningRouter, agent: FakeUpstream, api: str
) -> None:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=router.url + "/v1", api_key=await router.issue_key())
    model: Any = (
        OpenAIResponsesModel(model="gpt-5.1", openai_client=client)
        if api == "responses"
        else OpenAIChatCompletionsModel(model="gpt-5.1", openai_client=client)
    )
    weather_agent = Agent(
        name="weather",
        instructions="Answer with the tool's result.",
        model=model,
        tools=[get_weather],
        model_settings=ModelSettings(reasoning=Reasoning(effort="high", summary="auto")),
    )
    result = await Runner.run(weather_agent, "Weather in Paris?")
    await client.close()
    assert result.final_output == f"Done: {WEATHER}"
    first, second = (orjson.loads(request.body) for request in agent.requests)
    assert first["output_config"] == {"effort": "high"}
    assert second["messages"][-1]["content"][0]["type"] == "tool_result"


def test_the_readme_shows_what_this_test_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### OpenAI Agents SDK", 1)[1].split("###", 1)[0]
    for line in (
        'model=OpenAIResponsesModel(model="gpt-5.1", openai_client=client)',
        "model_settings=ModelSettings(reasoning=Reasoning(effort=",
        "set_tracing_disabled(True)",
    ):
        assert line in section
