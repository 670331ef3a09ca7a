"""``openai_responses``: Responses requests, answers and streams, without sockets.

Streams are golden transcripts: ``tests/formats/golden/openai_chat/<name>.anthropic.sse`` is what
the upstream sent (shared with the Chat Completions tests),
``tests/formats/golden/openai_responses/<name>.responses.sse`` the exact bytes the client must get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from link_assistant_router.formats.openai_common import OpenAIRequestError
from link_assistant_router.formats.openai_responses import responses_to_messages
from link_assistant_router.formats.openai_responses_output import message_to_response
from link_assistant_router.formats.openai_responses_stream import ResponsesStreamTranslator
from tests.formats import streams

GOLDEN = Path(__file__).parent / "golden"
NAMES = [
    "text",
    "two_tool_calls",
    "thinking_then_text",
    "stop_sequence",
    "max_tokens",
    "error_mid_stream",
]


def upstream(name: str) -> bytes:
    return (GOLDEN / "openai_chat" / f"{name}.anthropic.sse").read_bytes()


def expected(name: str) -> bytes:
    return (GOLDEN / "openai_responses" / f"{name}.responses.sse").read_bytes()


def fed(pieces: list[bytes]) -> bytes:
    stream = ResponsesStreamTranslator(
        model="gpt-4o", response_id="resp_golden", created=1764000000
    )
    return b"".join(stream.feed(piece) for piece in pieces) + stream.close()


def events(body: bytes) -> list[dict[str, Any]]:
    parsed = []
    for raw in body.split(b"\n\n")[:-1]:
        name_line, data_line = raw.split(b"\n")
        event = orjson.loads(data_line[6:])
        assert name_line == b"event: " + event["type"].encode()
        parsed.append(event)
    return parsed


@pytest.mark.parametrize("name", NAMES)
def test_a_whole_upstream_body_gives_the_golden_events(name: str) -> None:
    assert fed([upstream(name)]) == expected(name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [1, 2, 7, 100])
def test_any_slicing_and_crlf_give_the_same_events(name: str, size: int) -> None:
    for body in (upstream(name), upstream(name).replace(b"\n", b"\r\n")):
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        assert fed(pieces) == expected(name)


@pytest.mark.parametrize("name", NAMES)
def test_sequence_numbers_count_up_from_zero(name: str) -> None:
    numbers = [event["sequence_number"] for event in events(expected(name))]
    assert numbers == list(range(len(numbers)))


def test_the_text_stream_in_order() -> None:
    stream = events(expected("text"))
    kinds = [event["type"] for event in stream]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = "".join(e["delta"] for e in stream if e["type"] == "response.output_text.delta")
    done = next(e for e in stream if e["type"] == "response.output_text.done")
    assert deltas == done["text"] and deltas
    final = stream[-1]["response"]
    assert final["status"] == "completed" and final["model"] == "gpt-4o"
    assert final["output"][0]["content"][0]["text"] == deltas
    usage = final["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_two_tool_calls_become_function_call_items_with_their_arguments() -> None:
    stream = events(expected("two_tool_calls"))
    added = [e["item"] for e in stream if e["type"] == "response.output_item.added"]
    assert [item["type"] for item in added] == ["message", "function_call", "function_call"]
    calls = [e["item"] for e in stream if e["type"] == "response.output_item.done"][1:]
    assert [call["name"] for call in calls] == ["get_weather", "get_time"]
    for call in calls:
        pieces = [
            e["delta"]
            for e in stream
            if e["type"] == "response.function_call_arguments.delta" and e["item_id"] == call["id"]
        ]
        assert "".join(pieces) == call["arguments"]
        assert isinstance(orjson.loads(call["arguments"]), dict)
        assert call["call_id"].startswith("toolu_")
    assert stream[-1]["response"]["output"][1:] == calls


def test_thinking_is_not_shown() -> None:
    body = expected("thinking_then_text")
    assert b"thinking" not in body and b"signature" not in body


def test_max_tokens_is_an_incomplete_response() -> None:
    final = events(expected("max_tokens"))[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_an_upstream_error_ends_the_stream_with_response_failed() -> None:
    stream = events(expected("error_mid_stream"))
    assert stream[-1]["type"] == "response.failed"
    assert stream[-1]["response"]["error"]["code"] == "overloaded_error"


def test_a_stream_that_stops_without_message_stop_fails() -> None:
    body = upstream("text")
    cut = body[: body.index(b"event: message_delta")]
    assert events(fed([cut]))[-1]["type"] == "response.failed"


# --- requests -------------------------------------------------------------------------------------


def test_a_string_input_with_instructions() -> None:
    body = responses_to_messages({"input": "Hi", "instructions": "Be brief."}, model="m").body
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 4096,  # a model no family table knows: the fallback
        "system": "Be brief.",
    }


def test_a_tool_loop_in_items() -> None:
    document = {
        "input": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
            {"type": "function", "name": "get_time", "description": "Now"},
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "max_output_tokens": 100,
        "temperature": 0.5,
        "stream": True,
    }
    body = responses_to_messages(document, model="m").body
    assert body["system"] == "Use tools."
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert [b["id"] for b in body["messages"][1]["content"]] == ["call_1", "call_2"]
    assert body["messages"][1]["content"][0]["input"] == {"city": "Paris"}
    results = body["messages"][2]["content"]
    assert [b.get("tool_use_id") for b in results] == ["call_1", "call_2", None]
    assert results[-1] == {"type": "text", "text": "Thanks"}
    assert body["tools"][1] == {
        "name": "get_time",
        "input_schema": {"type": "object", "properties": {}},
        "description": "Now",
    }
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert (body["max_tokens"], body["temperature"], body["stream"]) == (100, 0.5, True)


def test_reasoning_effort_turns_on_thinking() -> None:
    body = responses_to_messages(
        {"input": "x", "reasoning": {"effort": "high"}, "max_output_tokens": 100},
        model="claude-haiku-4-5",
    ).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["max_tokens"] > 16384


@pytest.mark.parametrize(
    ("document", "param"),
    [
        ({"input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"input": "x", "store": True}, "store"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "tools": ["web_search"]}, "tools[0].type"),
        ({"input": "x", "text": {"format": {"type": "json_schema"}}}, "text.format"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"input": "x", "tool_choice": {"type": "web_search"}}, "tool_choice"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0].image_url",
        ),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": ""}, "input"),
    ],
)
def test_what_cannot_work_is_refused_naming_the_field(document: dict[str, Any], param: str) -> None:
    with pytest.raises(OpenAIRequestError) as refused:
        responses_to_messages(document, model="m")
    assert refused.value.param == param


def test_thinking_with_a_forced_tool_is_refused_naming_reasoning_effort() -> None:
    document = {
        "input": "x",
        "tools": [{"type": "function", "name": "f"}],
        "tool_choice": "required",
        "reasoning": {"effort": "low"},
    }
    with pytest.raises(OpenAIRequestError) as refused:
        responses_to_messages(document, model="m")
    assert refused.value.param == "tool_choice"
    assert "reasoning.effort" in str(refused.value)
    assert "reasoning_effort" not in str(refused.value)  # the Chat Completions name


def test_parallel_tool_calls_false_allows_one_call_at_a_time() -> None:
    document = {
        "input": "x",
        "tools": [{"type": "function", "name": "f"}],
        "parallel_tool_calls": False,
    }
    body = responses_to_messages(document, model="m").body
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_an_image_url_becomes_an_image_block() -> None:
    part = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}
    body = responses_to_messages({"input": [{"role": "user", "content": [part]}]}, model="m").body
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    ]


def test_store_false_and_metadata_are_accepted() -> None:
    body = responses_to_messages(
        {"input": "x", "store": False, "metadata": {"a": "b"}}, model="m"
    ).body
    assert "metadata" not in body  # OpenAI's metadata tags stored responses: nothing to keep


# --- answers -------------------------------------------------------------------------------------


def test_an_answer_becomes_a_response_object() -> None:
    message = {
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 2,
            "cache_read_input_tokens": 100,
        },
    }
    response = message_to_response(message, model="gpt-4o", response_id="resp_x", created=1)
    assert response["status"] == "completed" and response["model"] == "gpt-4o"
    reasoning, text, call = response["output"]
    assert reasoning == {"id": "rs_x_0", "type": "reasoning", "summary": []}  # none asked for
    assert text["content"] == [{"type": "output_text", "text": "Checking.", "annotations": []}]
    assert (call["type"], call["call_id"], call["name"]) == (
        "function_call",
        "toolu_1",
        "get_weather",
    )
    assert orjson.loads(call["arguments"]) == {"city": "Paris"}
    assert response["usage"] == {
        "input_tokens": 112,
        "input_tokens_details": {"cached_tokens": 100},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 117,
    }


def test_text_deltas_in_one_chunk_read_as_they_would_one_by_one() -> None:
    """Whole chunks take a shortcut for plain text deltas of a message: the same bytes as the
    events translated one at a time, for every text (escapes, quotes, backslashes), a text
    delta for a block that is not a message, and an error mid-chunk (nothing after it)."""
    stop = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    body = (
        streams.MESSAGE_START
        + streams.TEXT_BLOCK_START
        + b"".join(streams.text_delta(0, text) for text in streams.TEXTS)
    )
    body += streams.text_delta(7, b'"nobody"')
    for stream in (
        body + stop,
        body + streams.OVERLOADED + streams.text_delta(0, b'"after the error"'),
    ):
        outs = []
        for whole in (True, False):
            translator = ResponsesStreamTranslator(model="m", response_id="resp_1", created=1)
            fed = translator.feed(stream) if whole else _one_by_one(translator, stream)
            outs.append(fed + translator.close())
        assert outs[0] == outs[1]
        assert outs[0].count(b"response.output_text.delta\n") == len(streams.TEXTS)
    assert b"after the error" not in outs[0] and b"nobody" not in outs[0]
    assert b'"delta":"say \\"hi\\""' in outs[0]


def _one_by_one(translator: ResponsesStreamTranslator, stream: bytes) -> bytes:
    return b"".join(translator._event(event) for event in stream.split(b"\n\n") if event)
