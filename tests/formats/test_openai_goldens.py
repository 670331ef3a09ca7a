"""Golden transcripts of what issue 13 added, without sockets.

Requests: ``golden/requests/<name>.request.json`` is what the client sent, ``<name>.messages.json``
the Messages request the router makes of it (and the tools it left out). Streams:
``golden/openai_chat/<name>.anthropic.sse`` is what the upstream sent,
``golden/openai_responses/<name>.responses.sse`` (or ``openai_chat/<name>.openai.sse``) what the
client gets, with sealed reasoning shown as ``<sealed>`` (its nonce is random; each one is opened
and checked instead). ``UPDATE_GOLDEN=1`` rewrites the expected files: read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from link_assistant_router.formats.families import Families
from link_assistant_router.formats.openai_chat import ChatStreamTranslator, chat_to_messages
from link_assistant_router.formats.openai_common import Rules
from link_assistant_router.formats.openai_responses import ResponsesRequest, responses_to_messages
from link_assistant_router.formats.openai_responses_output import message_to_response
from link_assistant_router.formats.openai_responses_stream import ResponsesStreamTranslator
from link_assistant_router.formats.openai_tools import ToolBook, ToolRef
from link_assistant_router.formats.sealing import ReasoningSeal

GOLDEN = Path(__file__).parent / "golden"
REQUESTS = GOLDEN / "requests"
SEAL = ReasoningSeal.from_secret(b"golden-transcripts-secret-" + b"x" * 32)
RULES = Rules(Families(), SEAL, "drop")
SEALED = re.compile(rb'"encrypted_content":"(lar1\.[A-Za-z0-9_-]+)"')
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def check(path: Path, actual: bytes) -> None:
    if UPDATE:
        path.write_bytes(actual)
    assert actual == path.read_bytes(), f"{path.name} differs (UPDATE_GOLDEN=1 rewrites it)"


def pretty(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def translated(name: str) -> dict[str, Any]:
    document = orjson.loads((REQUESTS / f"{name}.request.json").read_bytes())
    if name.startswith("chat_"):
        chat = chat_to_messages(document, model="claude-sonnet-5", rules=RULES)
        return {"body": chat.body}
    request = responses_to_messages(document, model="claude-sonnet-5", rules=RULES)
    return {"body": request.body, "tools_left_out": request.tools.left_out}


def restored_request() -> None:
    """The request that gives sealed reasoning back (made once: its seal is random)."""
    path = REQUESTS / "reasoning_restored.request.json"
    if path.exists() and not UPDATE:
        return
    thinking = {"type": "thinking", "thinking": "Look it up first.", "signature": "U2ln"}
    redacted = {"type": "redacted_thinking", "data": "RW5j"}
    document = {
        "model": "gpt-5.1-codex",
        "reasoning": {"effort": "high", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        "input": [
            {"role": "user", "content": "Weather?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "encrypted_content": SEAL.seal(thinking),
            },
            {
                "type": "reasoning",
                "id": "rs_2",
                "summary": [],
                "encrypted_content": SEAL.seal(redacted),
            },
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        ],
    }
    path.write_bytes(pretty(document))


restored_request()
REQUEST_NAMES = sorted(path.name.split(".")[0] for path in REQUESTS.glob("*.request.json"))


@pytest.mark.parametrize("name", REQUEST_NAMES)
def test_requests_translate_as_the_golden_files_say(name: str) -> None:
    check(REQUESTS / f"{name}.messages.json", pretty(translated(name)))


def test_the_golden_requests_say_what_they_are_for() -> None:
    codex = translated("codex_tools")
    assert codex["tools_left_out"] == ["web_search", "file_search", "image_generation"]
    names = [tool["name"] for tool in codex["body"]["tools"]]
    assert "multi_agent_v1__spawn_agent" in names and "functions__exec" in names
    long_name = next(name for name in names if name.startswith("multi_agent_v1__a_name"))
    assert len(long_name) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+_[0-9a-f]{8}", long_name)
    restored = translated("reasoning_restored")["body"]
    assert [block["type"] for block in restored["messages"][1]["content"]] == [
        "thinking",
        "redacted_thinking",
        "tool_use",
    ]
    assert restored["thinking"] == {"type": "adaptive"}
    continued = translated("thinking_off_continuation")["body"]
    assert continued["thinking"] == {"type": "disabled"} and "output_config" not in continued


CODEX_BOOK = ToolBook()
CODEX_BOOK.add(ToolRef("custom", "exec", "functions"))
CODEX_BOOK.add(ToolRef("function", "spawn_agent", "multi_agent_v1"))
STREAMS = [
    ("custom_tool_call", ResponsesRequest({}, CODEX_BOOK)),
    ("namespace_call_with_thinking", ResponsesRequest({}, CODEX_BOOK, summary=True, seal=SEAL)),
    ("namespace_call_with_thinking.unsealed", ResponsesRequest({}, CODEX_BOOK)),
    ("thinking_then_text.sealed", ResponsesRequest({}, summary=True, seal=SEAL)),
    ("web_search", ResponsesRequest({})),
]


def upstream(name: str) -> bytes:
    return (GOLDEN / "openai_chat" / f"{name.split('.')[0]}.anthropic.sse").read_bytes()


def opened_and_shown(body: bytes) -> bytes:
    """``body`` with each sealed block opened (it must open) and shown as ``<sealed>``."""
    for sealed in SEALED.findall(body):
        assert SEAL.open(sealed.decode(), "golden")["type"] in ("thinking", "redacted_thinking")
    return SEALED.sub(b'"encrypted_content":"<sealed>"', body)


@pytest.mark.parametrize(("name", "shape"), STREAMS, ids=[name for name, _ in STREAMS])
@pytest.mark.parametrize("size", [1, 9, 10_000])
def test_streams_translate_as_the_golden_files_say(
    name: str, shape: ResponsesRequest, size: int
) -> None:
    body = upstream(name)
    stream = ResponsesStreamTranslator(
        model="gpt-5.1", response_id="resp_golden", created=1764000000, request=shape
    )
    out = b"".join(stream.feed(body[i : i + size]) for i in range(0, len(body), size))
    out += stream.close()
    check(GOLDEN / "openai_responses" / f"{name}.responses.sse", opened_and_shown(out))


def final_response(name: str) -> dict[str, Any]:
    body = (GOLDEN / "openai_responses" / f"{name}.responses.sse").read_bytes()
    last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    document: dict[str, Any] = orjson.loads(last.split(b"data: ", 1)[1])
    return document


def test_the_golden_streams_say_what_they_are_for() -> None:
    [call] = final_response("custom_tool_call")["response"]["output"]
    assert call["type"] == "custom_tool_call" and call["namespace"] == "functions"
    assert call["input"] == 'const x = "éé😀";\ntext(x)'
    body = (GOLDEN / "openai_responses" / "custom_tool_call.responses.sse").read_bytes()
    deltas = [
        orjson.loads(line[6:])["delta"]
        for line in body.split(b"\n")
        if line.startswith(b"data: ") and b"custom_tool_call_input.delta" in line
    ]
    assert "".join(deltas) == call["input"] and len(deltas) > 1  # streamed as it came
    reasoning, spawn = final_response("namespace_call_with_thinking")["response"]["output"]
    assert reasoning["summary"] == [
        {"type": "summary_text", "text": "Spawn a helper. SECRET-THOUGHT"}
    ]
    assert reasoning["encrypted_content"] == "<sealed>"
    assert (spawn["namespace"], spawn["name"]) == ("multi_agent_v1", "spawn_agent")
    unsealed = GOLDEN / "openai_responses" / "namespace_call_with_thinking.unsealed.responses.sse"
    assert b"SECRET-THOUGHT" not in unsealed.read_bytes()  # neither asked for: nothing shown
    search, message = final_response("web_search")["response"]["output"]
    assert search["action"] == {
        "type": "search",
        "query": "weather paris",
        "sources": [{"type": "url", "url": "https://weather.example/paris"}],
    }
    [annotation] = message["content"][0]["annotations"]
    assert annotation["url"] == "https://weather.example/paris"
    assert (annotation["start_index"], annotation["end_index"]) == (0, len("It is sunny"))


def test_a_whole_answer_gives_the_items_a_stream_gives() -> None:
    message = {
        "content": [
            {"type": "thinking", "thinking": "Spawn a helper. ", "signature": "U2ln"},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "functions__exec",
                "input": {"input": "x"},
            },
            {
                "type": "server_tool_use",
                "id": "srv_1",
                "name": "web_search",
                "input": {"query": "q"},
            },
            {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
        ],
        "stop_reason": "tool_use",
        "usage": {},
    }
    request = ResponsesRequest({}, CODEX_BOOK, summary=True, seal=SEAL)
    response = message_to_response(
        message, model="gpt-5.1", response_id="resp_x", created=1, request=request
    )
    reasoning, call, search = response["output"]
    assert SEAL.open(reasoning["encrypted_content"], "x") == message["content"][0]
    assert (call["type"], call["namespace"], call["input"]) == (
        "custom_tool_call",
        "functions",
        "x",
    )
    assert search["action"] == {"type": "search", "query": "q", "sources": []}


def test_chat_completions_streams_custom_tool_calls_in_kind() -> None:
    book = ToolBook()
    book.add(ToolRef("custom", "functions__exec"))
    stream = ChatStreamTranslator(
        model="gpt-5.1",
        completion_id="chatcmpl-golden",
        created=1764000000,
        include_usage=False,
        tools=book,
    )
    body = upstream("custom_tool_call")
    out = b"".join(stream.feed(body[i : i + 7]) for i in range(0, len(body), 7)) + stream.close()
    check(GOLDEN / "openai_chat" / "custom_tool_call.openai.sse", out)
    calls = [
        call
        for line in out.split(b"\n")
        if line.startswith(b"data: {")
        for call in orjson.loads(line[6:])["choices"][0]["delta"].get("tool_calls") or ()
    ]
    assert calls[0]["type"] == "custom" and calls[0]["custom"]["name"] == "functions__exec"
    assert "".join(call["custom"]["input"] for call in calls) == 'const x = "éé😀";\ntext(x)'
