"""``openai_chat``: Chat Completions requests, answers and streams, without sockets.

Streams are golden transcripts in ``tests/formats/golden/openai_chat``: ``<name>.anthropic.sse``
is what the upstream sent, ``<name>[.usage].openai.sse`` the exact bytes the client must get
(``.usage``: with ``stream_options.include_usage``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from link_assistant_router.errors import InvalidRequest
from link_assistant_router.formats.openai_chat import (
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)
from link_assistant_router.formats.openai_common import OpenAIRequestError
from tests.formats import streams

GOLDEN = Path(__file__).parent / "golden" / "openai_chat"
TRANSCRIPTS = [
    ("text", False),
    ("text", True),
    ("two_tool_calls", True),
    ("thinking_then_text", True),
    ("stop_sequence", False),
    ("max_tokens", False),
    ("error_mid_stream", True),
]
DONE = b"data: [DONE]\n\n"


def translator(include_usage: bool = False) -> ChatStreamTranslator:
    return ChatStreamTranslator(
        model="gpt-4o",
        completion_id="chatcmpl-golden",
        created=1764000000,
        include_usage=include_usage,
    )


def upstream(name: str) -> bytes:
    return (GOLDEN / f"{name}.anthropic.sse").read_bytes()


def expected(name: str, include_usage: bool) -> bytes:
    return (GOLDEN / f"{name}{'.usage' if include_usage else ''}.openai.sse").read_bytes()


def fed(pieces: list[bytes], include_usage: bool = False) -> bytes:
    stream = translator(include_usage)
    return b"".join(stream.feed(piece) for piece in pieces) + stream.close()


def chunks(body: bytes) -> list[Any]:
    """The SSE events of a translated body: parsed JSON, or the raw line for [DONE] and comments."""
    events = body.split(b"\n\n")
    assert events.pop() == b""
    return [
        e if e.startswith(b":") or e == b"data: [DONE]" else orjson.loads(e[6:]) for e in events
    ]


def sse(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def text_delta(text: str) -> dict[str, Any]:
    delta = {"type": "text_delta", "text": text}
    return {"type": "content_block_delta", "index": 0, "delta": delta}


MESSAGE_START = {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}


# --- streams: golden transcripts -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "include_usage"), TRANSCRIPTS)
def test_a_whole_upstream_body_gives_the_golden_chunks(name: str, include_usage: bool) -> None:
    assert fed([upstream(name)], include_usage) == expected(name, include_usage)


@pytest.mark.parametrize(("name", "include_usage"), TRANSCRIPTS)
def test_one_byte_at_a_time_gives_the_same_chunks(name: str, include_usage: bool) -> None:
    body = upstream(name)
    one_by_one = [body[i : i + 1] for i in range(len(body))]
    assert fed(one_by_one, include_usage) == expected(name, include_usage)


@pytest.mark.parametrize(("name", "include_usage"), TRANSCRIPTS)
@pytest.mark.parametrize("size", [2, 3, 5, 17, 100, 333])
def test_any_slicing_gives_the_same_chunks(name: str, include_usage: bool, size: int) -> None:
    body = upstream(name)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    assert fed(pieces, include_usage) == expected(name, include_usage)


@pytest.mark.parametrize(("name", "include_usage"), TRANSCRIPTS)
@pytest.mark.parametrize("size", [0, 1])
def test_crlf_line_ends_give_the_same_chunks(name: str, include_usage: bool, size: int) -> None:
    body = upstream(name).replace(b"\n", b"\r\n")
    pieces = [body[i : i + size] for i in range(len(body))] if size else [body]
    assert fed(pieces, include_usage) == expected(name, include_usage)


@pytest.mark.parametrize(("name", "include_usage"), TRANSCRIPTS)
def test_each_chunk_comes_out_when_its_event_is_complete(name: str, include_usage: bool) -> None:
    stream = translator(include_usage)
    out = []
    for event in upstream(name).split(b"\n\n")[:-1]:
        assert stream.feed(event + b"\n") == b""  # one byte short of the blank line
        out.append(stream.feed(b"\n"))
    out.append(stream.close())
    assert b"".join(out) == expected(name, include_usage)
    assert out[0].startswith(b'data: {"id":"chatcmpl-golden"')  # message_start: the role chunk


def test_what_the_golden_text_stream_says() -> None:
    events = chunks(expected("text", include_usage=True))
    data = [e for e in events if isinstance(e, dict)]
    assert {(c["id"], c["object"], c["created"], c["model"]) for c in data} == {
        ("chatcmpl-golden", "chat.completion.chunk", 1764000000, "gpt-4o")
    }
    deltas = [c["choices"][0]["delta"] for c in data if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": ', "world" \\ é ✓\n'},
        {"content": "bye"},
        {},
    ]
    assert events[1] == b": ping"
    assert data[-2]["choices"][0]["finish_reason"] == "stop"
    assert data[-1]["choices"] == []
    assert data[-1]["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 12,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert events[-1] == b"data: [DONE]"


def test_what_the_golden_tool_stream_says() -> None:
    data = [e for e in chunks(expected("two_tool_calls", True)) if isinstance(e, dict)]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in data[2:-2]]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01Weather",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert calls[4] == {
        "index": 1,
        "id": "toolu_02Time",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }
    for index, arguments in [(0, {"city": "Paris"}), (1, {"zone": "CET"})]:
        pieces = [c["function"]["arguments"] for c in calls if c["index"] == index]
        assert orjson.loads("".join(pieces)) == arguments
    assert data[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert data[-1]["usage"]["prompt_tokens"] == 400 + 100 + 2000
    assert data[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 2000}
    assert data[-1]["usage"]["total_tokens"] == 2500 + 87


def test_thinking_is_not_shown() -> None:
    body = expected("thinking_then_text", True)
    assert b"SECRET-THOUGHT" in upstream("thinking_then_text")
    assert b"SECRET-THOUGHT" not in body and b"RXVnZW5lU2lnbmF0dXJl" not in body
    deltas = [e["choices"][0]["delta"] for e in chunks(body)[:-1] if e["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "2 + 2 = 4."}, {}]


def test_an_upstream_error_ends_the_stream_with_an_error_chunk() -> None:
    events = chunks(expected("error_mid_stream", True))
    assert events[-2:] == [
        {
            "error": {
                "message": "Overloaded",
                "type": "overloaded_error",
                "param": None,
                "code": None,
            }
        },
        b"data: [DONE]",
    ]
    assert b"NEVER-SHOWN" not in expected("error_mid_stream", True)


def test_nothing_follows_an_upstream_error() -> None:
    stream = translator()
    body = upstream("error_mid_stream")
    cut = body.index(b"event: error")
    stream.feed(body[:cut])
    assert stream.feed(body[cut:]).endswith(DONE)
    assert stream.feed(sse(text_delta("later"))) == b""
    assert stream.close() == b""
    assert stream.usage is None


def test_done_is_written_exactly_once() -> None:
    stream = translator()
    stream.feed(upstream("text"))
    assert stream.close().endswith(DONE)
    assert stream.close() == b""
    assert stream.feed(sse(text_delta("late"))) == b""


def test_usage_is_known_once_message_delta_arrived() -> None:
    stream = translator()
    body = upstream("two_tool_calls")
    cut = body.index(b"event: message_delta")
    stream.feed(body[:cut])
    assert stream.usage is None
    stream.feed(body[cut:])
    assert stream.usage == {
        "prompt_tokens": 2500,
        "completion_tokens": 87,
        "total_tokens": 2587,
        "prompt_tokens_details": {"cached_tokens": 2000},
    }


def test_input_counts_repeated_in_message_delta_win() -> None:
    stream = translator()
    stream.feed(sse(MESSAGE_START))
    usage = {"input_tokens": 9, "cache_read_input_tokens": None, "output_tokens": 4}
    stream.feed(
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage})
    )
    assert stream.usage is not None
    assert (stream.usage["prompt_tokens"], stream.usage["completion_tokens"]) == (9, 4)


def test_an_event_cut_off_by_eof_is_still_translated() -> None:
    stream = translator()
    stream.feed(sse(MESSAGE_START))
    tail = sse(text_delta("tail")).rstrip(b"\n")
    assert stream.feed(tail) == b""
    out = chunks(stream.close())
    assert out[0]["choices"][0]["delta"] == {"content": "tail"}
    assert out[1] == b"data: [DONE]"


def test_unknown_and_unreadable_events_are_skipped() -> None:
    stream = translator()
    stream.feed(sse(MESSAGE_START))
    noise = (
        b'event: something_new\ndata: {"type":"something_new"}\n\n'
        b"event: content_block_delta\ndata: {not json\n\n"
        b": a comment\n\n"
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":[1]}\n\n'
    )
    assert stream.feed(noise) == b""
    assert chunks(stream.feed(sse(text_delta("still here"))))[0]["choices"][0]["delta"] == {
        "content": "still here"
    }


@pytest.mark.parametrize(
    "text",
    ["plain", 'a "quote"', "back\\slash", "ends with \\", "\\", 'mixed \\"', "é ✓ 🙂", "a\nb", ""],
)
def test_text_deltas_read_raw_or_parsed_agree(text: str) -> None:
    compact = sse(text_delta(text))  # the layout Anthropic writes, read without parsing
    spaced = compact.replace(b'"text_delta",', b'"text_delta", ')  # only the parser reads this
    assert spaced != compact
    outs = []
    for event in (compact, spaced):
        stream = translator()
        outs.append(chunks(stream.feed(sse(MESSAGE_START) + event)))
    assert outs[0] == outs[1]
    assert outs[0][1]["choices"][0]["delta"] == {"content": text}


@pytest.mark.parametrize(
    "layout",
    [
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi","x":"y"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi\\\\"}}',
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"},"x":"}}',
    ],
)
def test_a_text_delta_in_another_layout_is_parsed(layout: bytes) -> None:
    stream = translator()
    out = stream.feed(sse(MESSAGE_START) + b"event: content_block_delta\ndata: " + layout + b"\n\n")
    event = orjson.loads(layout) if layout.endswith(b"}}") and b'"x":"}}' not in layout else None
    texts = [c["choices"][0]["delta"].get("content") for c in chunks(out)[1:]]
    assert texts == ([event["delta"]["text"]] if event else [])


def test_a_text_block_that_starts_with_text_says_it() -> None:
    stream = translator()
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": "Hi"},
    }
    out = chunks(stream.feed(sse(MESSAGE_START) + sse(start)))
    assert out[1]["choices"][0]["delta"] == {"content": "Hi"}


# --- answers -------------------------------------------------------------------------------------


def answer(**fields: Any) -> dict[str, Any]:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 3},
    }
    return message_to_chat(
        {**message, **fields}, model="gpt-4o", completion_id="chatcmpl-1", created=1700000000
    )


def test_an_answer_becomes_a_chat_completion() -> None:
    assert answer() == {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 3,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_an_answer_with_thinking_text_and_tool_calls() -> None:
    chat = answer(
        content=[
            {"type": "thinking", "thinking": "HIDDEN", "signature": "sig"},
            {"type": "text", "text": "Checking "},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            {"type": "text", "text": "both."},
            {"type": "tool_use", "id": "toolu_2", "name": "clock", "input": {}},
        ],
        stop_reason="tool_use",
        usage={
            "input_tokens": 10,
            "cache_creation_input_tokens": 2,
            "cache_read_input_tokens": 30,
            "output_tokens": 5,
        },
    )
    message = chat["choices"][0]["message"]
    assert message["content"] == "Checking both."
    assert message["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "toolu_2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
    ]
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert chat["usage"] == {
        "prompt_tokens": 42,
        "completion_tokens": 5,
        "total_tokens": 47,
        "prompt_tokens_details": {"cached_tokens": 30},
    }
    assert b"HIDDEN" not in orjson.dumps(chat)


def test_an_answer_of_only_tool_calls_has_null_content() -> None:
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}
    message = answer(content=[tool_use], stop_reason="tool_use")["choices"][0]["message"]
    assert message["content"] is None and len(message["tool_calls"]) == 1


def test_an_answer_without_tool_calls_has_no_tool_calls_key() -> None:
    assert "tool_calls" not in answer()["choices"][0]["message"]


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reasons_become_finish_reasons(stop_reason: str | None, finish_reason: str) -> None:
    assert answer(stop_reason=stop_reason)["choices"][0]["finish_reason"] == finish_reason


# --- requests ------------------------------------------------------------------------------------


def translate(**fields: Any) -> dict[str, Any]:
    document = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return chat_to_messages(document, model="claude-sonnet-4-5").body


def refusal(document: Any) -> OpenAIRequestError:
    with pytest.raises(OpenAIRequestError) as caught:
        chat_to_messages(document, model="claude-sonnet-4-5")
    return caught.value


def test_the_smallest_request_gets_defaults() -> None:
    assert translate() == {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 64000,  # Sonnet 4.5's documented maximum: the client set none
    }


def test_harmless_fields_are_ignored() -> None:
    harmless = translate(
        stream_options={"include_usage": True},
        seed=7,
        frequency_penalty=0,
        presence_penalty=0.0,
        response_format={"type": "text"},
        store=False,
        metadata={"app": "x"},
        service_tier="auto",
        n=1,
        logprobs=False,
    )
    assert harmless == translate()


def test_system_and_developer_messages_join_in_order_wherever_they_are() -> None:
    body = translate(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {"role": "assistant", "content": "Hello."},
            {
                "role": "system",
                "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            },
            {"role": "user", "content": "Weather?"},
        ]
    )
    assert body["system"] == "Be brief.\n\nUse metric.\n\nAB"
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]


def test_images_by_data_url_and_by_link() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    body = translate(messages=[{"role": "user", "content": content}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_a_tool_loop_merges_results_and_the_next_user_message_into_one_turn() -> None:
    weather = {"name": "weather", "arguments": '{"city":"Paris"}'}
    body = translate(
        messages=[
            {"role": "user", "content": "Weather and time in Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": weather},
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "clock", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
            {
                "role": "tool",
                "tool_call_id": "call_b",
                "content": [{"type": "text", "text": "noon"}],
            },
            {"role": "user", "content": "Thanks. Tomorrow?"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "strict": True,
                },
            },
            {"type": "function", "function": {"name": "clock"}},
        ],
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_a", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_b", "name": "clock", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "noon"},
                {"type": "text", "text": "Thanks. Tomorrow?"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Weather for a city",
        },
        {"name": "clock", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


def test_same_role_neighbours_merge_and_results_go_before_text() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = translate(
        messages=[
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "user", "content": "hurry"},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "one"},
        {"type": "text", "text": "two"},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "done"},
        {"type": "text", "text": "hurry"},
    ]


def test_legacy_functions_and_function_messages() -> None:
    body = translate(
        messages=[
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "weather", "arguments": '{"city":"Oslo"}'},
            },
            {"role": "function", "name": "weather", "content": "snow"},
        ],
        functions=[{"name": "weather", "parameters": {"type": "object", "properties": {}}}],
        function_call={"name": "weather"},
    )
    [tool_use] = body["messages"][1]["content"]
    [result] = body["messages"][2]["content"]
    assert tool_use["type"] == "tool_use" and tool_use["input"] == {"city": "Oslo"}
    assert result == {"type": "tool_result", "tool_use_id": tool_use["id"], "content": "snow"}
    assert body["tools"] == [
        {"name": "weather", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}


TOOLS = [{"type": "function", "function": {"name": "weather"}}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "weather"}},
            {"type": "tool", "name": "weather"},
        ),
    ],
)
def test_tool_choice_forms(choice: Any, expected: dict[str, Any]) -> None:
    assert translate(tools=TOOLS, tool_choice=choice)["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_use() -> None:
    assert translate(tools=TOOLS, parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert translate(tools=TOOLS, tool_choice="required", parallel_tool_calls=False)[
        "tool_choice"
    ] == {"type": "any", "disable_parallel_tool_use": True}
    assert "tool_choice" not in translate(tools=TOOLS, parallel_tool_calls=True)


def test_tool_choice_auto_or_none_without_tools_is_dropped() -> None:
    # Claude refuses a tool_choice without tools; neither value asks for a call.
    assert "tool_choice" not in translate(tool_choice="auto")
    assert "tool_choice" not in translate(tool_choice="none")


@pytest.mark.parametrize(
    ("effort", "budget"),
    [
        ("minimal", 1024),
        ("low", 2048),
        ("medium", 8192),
        ("high", 16384),
        ("xhigh", 32000),  # at most half of Sonnet 4.5's 64000
        ("max", 32000),
    ],
)
def test_reasoning_effort_turns_on_thinking(effort: str, budget: int) -> None:
    body = translate(reasoning_effort=effort, temperature=0.3, top_p=0.9, max_tokens=50000)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 50000  # already above the budget: kept
    assert "temperature" not in body and "top_p" not in body


def test_thinking_leaves_room_for_the_answer() -> None:
    assert translate(reasoning_effort="high", max_completion_tokens=1000)["max_tokens"] == 17384
    assert translate(reasoning_effort="max", max_tokens=32000)["max_tokens"] == 64000  # capped


def test_unknown_efforts_are_refused_naming_them() -> None:
    error = refusal(
        {"model": "x", "messages": [USER], "reasoning_effort": "extreme"}  # not OpenAI's
    )
    assert error.param == "reasoning_effort" and "xhigh" in error.message


def test_reasoning_effort_none_means_no_thinking() -> None:
    assert "thinking" not in translate(reasoning_effort="none")


def test_sampling_stop_stream_and_user() -> None:
    body = translate(
        temperature=1.6, top_p=0.5, stop=["END", "STOP"], stream=True, user="alice", max_tokens=77
    )
    assert body["temperature"] == 1.0  # OpenAI's 0-2 scale, clamped to Claude's 0-1
    assert body["top_p"] == 0.5
    assert body["stop_sequences"] == ["END", "STOP"]
    assert body["stream"] is True
    assert body["metadata"] == {"user_id": "alice"}
    assert body["max_tokens"] == 77
    assert translate(stop="END", temperature=0.4)["stop_sequences"] == ["END"]
    assert translate(temperature=0.4)["temperature"] == 0.4
    assert translate(stream=False)["stream"] is False


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert translate(max_completion_tokens=10, max_tokens=20)["max_tokens"] == 10


USER = {"role": "user", "content": "Hi"}
CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"presence_penalty": -1}, "presence_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": None}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "Hi"}, "messages"),
        ({"messages": [USER, "Hi"]}, "messages[1]"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]},
            "messages[0].content[0].text",
        ),
        (
            {
                "messages": [
                    USER,
                    {"role": "assistant", "content": "ok"},
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "x"}, {"type": "input_audio"}],
                    },
                ]
            },
            "messages[2].content[1].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [CALL]}]},
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}],
                    },
                ]
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
        (
            {"messages": [USER, {"role": "assistant", "tool_calls": [{**CALL, "id": None}]}]},
            "messages[1].tool_calls[0].id",
        ),
        ({"messages": [USER, {"role": "tool", "content": "x"}]}, "messages[1].tool_call_id"),
        (
            {"messages": [USER, {"role": "function", "name": "f", "content": "x"}]},
            "messages[1].name",
        ),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": "many"}, "max_completion_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"stop": 5}, "stop"),
        ({"stream": "yes"}, "stream"),
        ({"user": 5}, "user"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tools": {"name": "f"}}, "tools"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "function": {"description": "no name"}}]},
            "tools[0].function.name",
        ),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "other"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "required", "reasoning_effort": "low"}, "tool_choice"),
        ({"tools": TOOLS, "parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ],
)
def test_what_cannot_be_translated_is_refused_naming_the_field(
    fields: dict[str, Any], param: str
) -> None:
    error = refusal({"model": "gpt-4o", "messages": [USER], **fields})
    assert error.param == param
    assert isinstance(error, InvalidRequest) and error.status == 400
    assert error.message == str(error) and error.message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    error = refusal([{"role": "user", "content": "Hi"}])
    assert error.param is None and "object" in error.message


def test_refusals_never_echo_large_content() -> None:
    huge = "x" * 100_000
    error = refusal({"messages": [{"role": huge, "content": huge}]})
    assert error.param == "messages[0].role" and len(error.message) < 200
    error = refusal({"messages": [{"role": "user", "content": [{"type": huge}]}]})
    assert error.param == "messages[0].content[0].type" and len(error.message) < 200


def test_text_deltas_in_one_chunk_read_as_they_would_one_by_one() -> None:
    """Whole chunks take a shortcut for plain text deltas: the chunks sent are those of the
    events translated one at a time, for every text (escapes, quotes, backslashes) and for an
    error in the middle of a chunk (nothing after it)."""
    body = (
        streams.MESSAGE_START
        + streams.TEXT_BLOCK_START
        + b"".join(streams.text_delta(0, text) for text in streams.TEXTS)
    )
    with_error = body + streams.OVERLOADED + streams.text_delta(0, b'"after the error"')

    for stream in (body, with_error):
        whole = translator()
        at_once = whole.feed(stream) + whole.close()
        single = translator()
        events = [event + b"\n\n" for event in stream.split(b"\n\n") if event]
        one_by_one = b"".join(single._event(event[:-2]) for event in events)
        one_by_one += single.close()
        assert at_once == one_by_one
        assert at_once.count(b'"content":') == len(streams.TEXTS) + 1  # the role chunk's too
    assert b"after the error" not in at_once
    assert b'say \\"hi\\"' in at_once and b"caf\\u00e9\\n" in at_once
