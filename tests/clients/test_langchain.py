"""LangChain's ChatOpenAI with reasoning and a bound tool, two turns, with and without the
Responses API (README: "LangChain")."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.clients.conftest import WEATHER
from tests.conftest import RunningRouter
from tests.fakes.upstream import FakeUpstream


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return WEATHER


@pytest.mark.parametrize("responses_api", [True, False])
async def test_chat_openai_with_reasoning_and_a_tool_takes_two_turns(
    offline: None, router: RunningRouter, agent: FakeUpstream, responses_api: bool
) -> None:
    llm = ChatOpenAI(
        model="gpt-5.1",
        base_url=router.url + "/v1",
        api_key=await router.issue_key(),  # type: ignore[arg-type]
        reasoning_effort="medium",
        use_responses_api=responses_api,
        max_retries=0,
    ).bind_tools([get_weather])
    history: list[object] = [HumanMessage("Weather in Paris?")]
    first = await llm.ainvoke(history)
    [call] = first.tool_calls  # type: ignore[attr-defined]
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    history += [first, ToolMessage(WEATHER, tool_call_id=call["id"])]
    second = await llm.ainvoke(history)
    assert second.text == f"Done: {WEATHER}"
    sent = [orjson.loads(request.body) for request in agent.requests]
    assert sent[0]["output_config"] == {"effort": "medium"}
    # LangChain gives no thinking back: Sonnet 5.5's lowest thinking setting.
    assert sent[1]["thinking"] == {"type": "between_tools"}


def test_the_readme_shows_what_this_test_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### LangChain", 1)[1].split("###", 1)[0]
    for line in ('reasoning_effort="medium"', "use_responses_api=True", ").bind_tools(["):
        assert line in section
