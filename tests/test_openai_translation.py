"""The Chat Completions translator on its own: requests, answers, and streams as transcripts
(Anthropic SSE in, the OpenAI chunks expected out)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from link_assistant_router.openai_chat import (
    DEFAULT_MAX_TOKENS,
    ChatRequestError,
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)

USAGE = {"input_tokens": 10, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 30}


def sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def start() -> bytes:
    return sse(
        "message_start",
        {"type": "message_start", "message": {"usage": {**USAGE, "output_tokens": 1}}},
    )


def block(index: int, content_block: dict[str, Any]) -> bytes:
    return sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": content_block},
    )


def delta(index: int, data: dict[str, Any]) -> bytes:
    return sse(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": data}
    )


def stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


def finish(reason: str, output_tokens: int = 7) -> bytes:
    return sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason},
            "usage": {"output_tokens": output_tokens},
        },
    ) + sse("message_stop", {"type": "message_stop"})


TEXT = (
    start()
    + sse("ping", {"type": "ping"})
    + block(0, {"type": "text", "text": ""})
    + delta(0, {"type": "text_delta", "text": "Hel"})
    + delta(0, {"type": "text_delta", "text": "lo"})
    + stop(0)
    + finish("end_turn")
)
TWO_TOOLS = (
    start()
    + block(0, {"type": "text", "text": ""})
    + delta(0, {"type": "text_delta", "text": "Checking."})
    + stop(0)
    + block(1, {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}})
    + delta(1, {"type": "input_json_delta", "partial_json": '{"city":'})
    + delta(1, {"type": "input_json_delta", "partial_json": '"Paris"}'})
    + stop(1)
    + block(2, {"type": "tool_use", "id": "toolu_2", "name": "time", "input": {}})
    + delta(2, {"type": "input_json_delta", "partial_json": "{}"})
    + stop(2)
    + finish("tool_use")
)
THINKING = (
    start()
    + block(0, {"type": "thinking", "thinking": ""})
    + delta(0, {"type": "thinking_delta", "thinking": "secret reasoning"})
    + delta(0, {"type": "signature_delta", "signature": "c2lnbmF0dXJl"})
    + stop(0)
    + block(1, {"type": "text", "text": ""})
    + delta(1, {"type": "text_delta", "text": "Answer"})
    + stop(1)
    + finish("max_tokens")
)
ERROR_MID_STREAM = (
    start()
    + block(0, {"type": "text", "text": ""})
    + delta(0, {"type": "text_delta", "text": "Part"})
    + sse(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    + delta(0, {"type": "text_delta", "text": "never shown"})
)


def translate(transcript: bytes, *, include_usage: bool = False, step: int = 0) -> list[Any]:
    """Feed the transcript (whole, or ``step`` bytes at a time); the parsed output events."""
    translator = ChatStreamTranslator(
        model="gpt-4o", completion_id="chatcmpl-1", created=1700000000, include_usage=include_usage
    )
    pieces = (
        [transcript]
        if not step
        else [transcript[i : i + step] for i in range(0, len(transcript), step)]
    )
    out = b"".join(translator.feed(piece) for piece in pieces) + translator.close()
    assert out.endswith(b"data: [DONE]\n\n") and out.count(b"[DONE]") == 1
    events: list[Any] = []
    for event in out.split(b"\n\n")[:-1]:
        if event.startswith(b":"):
            events.append("comment")
        elif event == b"data: [DONE]":
            events.append("DONE")
        else:
            events.append(orjson.loads(event.removeprefix(b"data: ")))
    return events


def deltas(events: list[Any]) -> list[Any]:
    return [e["choices"][0]["delta"] for e in events if isinstance(e, dict) and e.get("choices")]


def test_text_stream() -> None:
    events = translate(TEXT)
    assert events[0] == "comment" or deltas(events)[0] == {"role": "assistant", "content": ""}
    assert deltas(events) == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    chunks = [e for e in events if isinstance(e, dict)]
    assert {(c["id"], c["object"], c["model"], c["created"]) for c in chunks} == {
        ("chatcmpl-1", "chat.completion.chunk", "gpt-4o", 1700000000)
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert "comment" in events and events[-1] == "DONE"


def test_two_tool_calls_in_one_turn() -> None:
    got = deltas(translate(TWO_TOOLS))
    assert got[1] == {"content": "Checking."}
    calls = [d["tool_calls"][0] for d in got if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_1",
        "type": "function",
        "function": {"name": "weather", "arguments": ""},
    }
    assert [c["function"]["arguments"] for c in calls if c["index"] == 0] == [
        "",
        '{"city":',
        '"Paris"}',
    ]
    assert calls[3]["id"] == "toolu_2" and calls[3]["index"] == 1
    assert translate(TWO_TOOLS)[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_thinking_is_not_shown_and_max_tokens_is_length() -> None:
    events = translate(THINKING)
    assert deltas(events)[1:] == [{"content": "Answer"}, {}]
    assert b"secret reasoning" not in orjson.dumps(events)
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_usage_chunk_only_when_asked() -> None:
    with_usage = translate(TEXT, include_usage=True)
    assert with_usage[-2]["choices"] == []
    assert with_usage[-2]["usage"] == {
        "prompt_tokens": 42,
        "completion_tokens": 7,
        "total_tokens": 49,
        "prompt_tokens_details": {"cached_tokens": 30},
    }
    assert all("usage" not in e for e in translate(TEXT) if isinstance(e, dict))


def test_an_upstream_error_ends_the_stream_with_an_error_chunk() -> None:
    events = translate(ERROR_MID_STREAM)
    assert deltas(events) == [{"role": "assistant", "content": ""}, {"content": "Part"}]
    assert events[-2] == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    assert events[-1] == "DONE"


@pytest.mark.parametrize("transcript", [TEXT, TWO_TOOLS, THINKING, ERROR_MID_STREAM])
@pytest.mark.parametrize("step", [1, 7, 64])
def test_any_split_of_the_bytes_gives_the_same_events(transcript: bytes, step: int) -> None:
    assert translate(transcript, include_usage=True, step=step) == translate(
        transcript, include_usage=True
    )


@pytest.mark.parametrize(
    "text", ["plain", 'quote " and \\ backslash', "line\nbreak", "unicode é ✓", "}}", ""]
)
def test_text_deltas_read_fast_or_parsed_say_the_same(text: str) -> None:
    compact = delta(0, {"type": "text_delta", "text": text})  # what the fast path reads
    spaced = compact.replace(b'"text_delta",', b'"text_delta", ')  # only a parser reads this
    assert compact != spaced
    got = [deltas(translate(start() + event + finish("end_turn"))) for event in (compact, spaced)]
    assert got[0] == got[1]
    assert got[0][1] == {"content": text}


def test_crlf_event_separators_are_understood() -> None:
    assert translate(TEXT.replace(b"\n", b"\r\n")) == translate(TEXT)


# --- requests ------------------------------------------------------------------------------------


def test_system_developer_images_and_defaults() -> None:
    body = chat_to_messages(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                },
            ],
            "temperature": 1.7,
            "stop": "END",
            "user": "alice",
        },
        model="claude-sonnet-5",
    )
    assert body["system"] == "Be brief.\n\nUse metric."
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert (body["temperature"], body["stop_sequences"]) == (1.0, ["END"])
    assert body["metadata"] == {"user_id": "alice"}
    content = body["messages"][0]["content"]
    assert content[1]["source"] == {"type": "base64", "media_type": "image/png", "data": "iVBO"}
    assert content[2]["source"] == {"type": "url", "url": "https://example.com/a.png"}


def test_a_tool_loop_with_results_merged_into_one_user_turn() -> None:
    body = chat_to_messages(
        {
            "messages": [
                {"role": "user", "content": "Weather and time?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        },
                        {"id": "b", "type": "function", "function": {"name": "t", "arguments": ""}},
                    ],
                },
                {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                {"role": "tool", "tool_call_id": "b", "content": "noon"},
                {"role": "user", "content": "Thanks"},
            ],
            "tools": [{"type": "function", "function": {"name": "w"}}],
            "tool_choice": {"type": "function", "function": {"name": "w"}},
            "parallel_tool_calls": False,
        },
        model="m",
    )
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use", "tool_use"]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": "sunny"},
        {"type": "tool_result", "tool_use_id": "b", "content": "noon"},
        {"type": "text", "text": "Thanks"},
    ]
    assert body["tools"] == [{"name": "w", "input_schema": {"type": "object", "properties": {}}}]
    assert body["tool_choice"] == {"type": "tool", "name": "w", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"})],
)
def test_tool_choice_forms(choice: str, expected: dict[str, Any]) -> None:
    document = {"messages": [{"role": "user", "content": "x"}], "tool_choice": choice}
    assert chat_to_messages(document, model="m")["tool_choice"] == expected


def test_reasoning_effort_turns_on_thinking_with_room_to_answer() -> None:
    body = chat_to_messages(
        {
            "messages": [{"role": "user", "content": "x"}],
            "reasoning_effort": "high",
            "max_tokens": 1000,
            "temperature": 0.2,
        },
        model="m",
    )
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["max_tokens"] > 16384
    assert "temperature" not in body


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "a", "function": {"name": "w", "arguments": "{"}}],
                    },
                ]
            },
            "messages[1].tool_calls[0].function.arguments",
        ),
    ],
)
def test_what_claude_cannot_do_is_refused_naming_the_field(
    extra: dict[str, Any], param: str
) -> None:
    document = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(ChatRequestError) as caught:
        chat_to_messages(document, model="m")
    assert caught.value.param == param
    assert caught.value.status == 400


def test_an_answer_with_text_and_tool_calls() -> None:
    chat = message_to_chat(
        {
            "content": [
                {"type": "thinking", "thinking": "hidden"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "usage": {**USAGE, "output_tokens": 5},
        },
        model="gpt-4o",
        completion_id="chatcmpl-2",
        created=1,
    )
    [choice] = chat["choices"]
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "w", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert choice["finish_reason"] == "tool_calls"
    assert chat["usage"]["prompt_tokens"] == 42 and chat["usage"]["total_tokens"] == 47
    assert "hidden" not in orjson.dumps(chat).decode()
