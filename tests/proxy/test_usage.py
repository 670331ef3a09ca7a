"""Reading usage from answers: whole JSON bodies and SSE streams split anywhere."""

from __future__ import annotations

import orjson
import pytest

from link_assistant_router.proxy.usage import BodyEnds, StreamUsage, usage_from_body
from link_assistant_router.requestlog import Usage
from tests.fakes.upstream import USAGE, message_json, sse_events


def stream_bytes() -> bytes:
    return b"".join(sse_events())


def read(pieces: list[bytes]) -> StreamUsage:
    meter = StreamUsage()
    for piece in pieces:
        meter.feed(piece)
    return meter


def test_a_json_answer_gives_its_usage_and_model() -> None:
    found = usage_from_body(orjson.dumps(message_json()))
    assert found is not None
    usage, model = found
    assert usage == Usage(**USAGE)
    assert model == "claude-sonnet-5"


@pytest.mark.parametrize(
    "body", [b'{"input_tokens": 3}', b'{"data": []}', b"not json", b'{"type":"error","usage":{}}']
)
def test_other_bodies_have_no_usage(body: bytes) -> None:
    assert usage_from_body(body) is None


def test_the_last_message_delta_overwrites_never_adds() -> None:
    meter = read([stream_bytes()])
    # message_start said output 1 and the same input and cache counts; the final delta restates
    # them all: summing would double the input and cache tokens.
    assert meter.usage == Usage(**USAGE)
    assert meter.complete
    assert meter.model == "claude-sonnet-5"


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000])
def test_any_split_of_the_bytes_reads_the_same(size: int) -> None:
    data = stream_bytes()
    meter = read([data[i : i + size] for i in range(0, len(data), size)])
    assert (meter.usage, meter.complete) == (Usage(**USAGE), True)


def test_crlf_streams_are_read() -> None:
    data = stream_bytes().replace(b"\n", b"\r\n")
    meter = read([data[i : i + 13] for i in range(0, len(data), 13)])
    assert (meter.usage, meter.complete) == (Usage(**USAGE), True)


def test_a_stream_cut_short_keeps_what_it_saw() -> None:
    events = sse_events()
    meter = read(events[: len(events) // 2])
    assert meter.usage == Usage(**{**USAGE, "output_tokens": 1})
    assert not meter.complete


def test_null_and_missing_fields_in_a_delta_keep_earlier_values() -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}
    delta = {"type": "message_delta", "usage": {"output_tokens": 40, "input_tokens": None}}
    data = (
        b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n"
        b"event: message_delta\ndata: " + orjson.dumps(delta) + b"\n\n"
    )
    meter = read([data])
    assert meter.usage == Usage(input_tokens=9, output_tokens=40)


def test_text_that_mentions_message_events_is_not_usage() -> None:
    text = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": 'event: message_delta "usage"'},
    }
    data = stream_bytes().replace(
        b"event: ping",
        b"event: content_block_delta\ndata: " + orjson.dumps(text) + b"\n\nevent: ping",
        1,
    )
    assert read([data]).usage == Usage(**USAGE)


@pytest.mark.parametrize("slice_size", [1, 7, 4096, 70_000, 10**7])
def test_a_large_answer_s_usage_is_read_from_its_ends_in_any_slices(slice_size: int) -> None:
    message = {**message_json(), "content": [{"type": "text", "text": "x" * 3_000_000}]}
    body = orjson.dumps(message)
    ends = BodyEnds()
    for start in range(0, len(body), slice_size):
        ends.feed(body[start : start + slice_size])
    found = ends.usage()
    assert found is not None
    usage, model = found
    assert usage == Usage(**USAGE)
    assert model == "claude-sonnet-5"
    # What it holds is its ends, not the body.
    assert len(ends._head) + len(ends._tail) <= BodyEnds.HEAD_BYTES + BodyEnds.TAIL_BYTES


def test_an_answer_that_is_not_a_message_has_no_usage_from_its_ends() -> None:
    ends = BodyEnds()
    ends.feed(b'{"type":"error","usage":{"input_tokens":5}}')
    assert ends.usage() is None


PRICED = {
    **USAGE,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 1000},
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
}
PRICED_USAGE = Usage(
    input_tokens=USAGE["input_tokens"],
    output_tokens=USAGE["output_tokens"],
    cache_creation_input_tokens=3000,
    cache_read_input_tokens=USAGE["cache_read_input_tokens"],
    cache_creation_1h_input_tokens=1000,
    web_search_requests=2,
    web_fetch_requests=1,
)


def test_cache_write_tiers_and_server_tools_are_read_from_json() -> None:
    found = usage_from_body(orjson.dumps(message_json(PRICED)))
    assert found is not None and found[0] == PRICED_USAGE
    assert found[0].cache_creation_5m_input_tokens() == 2000


@pytest.mark.parametrize("size", [5, 100_000])
def test_cache_write_tiers_and_server_tools_are_read_from_streams(size: int) -> None:
    data = b"".join(sse_events(PRICED))
    meter = read([data[i : i + size] for i in range(0, len(data), size)])
    assert meter.usage == PRICED_USAGE


def test_the_last_delta_restates_server_tools_it_never_adds_them() -> None:
    start = {**PRICED, "server_tool_use": {"web_search_requests": 1}}
    events = sse_events(PRICED)
    events[0] = events[0].replace(
        orjson.dumps({**PRICED, "output_tokens": 1}), orjson.dumps({**start, "output_tokens": 1})
    )
    assert read(events[:1]).usage.web_search_requests == 1  # type: ignore[union-attr]
    assert read(events).usage == PRICED_USAGE


@pytest.mark.parametrize(
    "bent",
    [
        {"cache_creation": {"ephemeral_1h_input_tokens": -1}},
        {"cache_creation": {"ephemeral_1h_input_tokens": True}},
        {"cache_creation": [1000]},
        {"server_tool_use": {"web_search_requests": "2"}},
        {"server_tool_use": None},
    ],
)
def test_bent_tiers_and_tool_counts_are_ignored(bent: dict[str, object]) -> None:
    found = usage_from_body(orjson.dumps(message_json({**USAGE, **bent})))
    assert found is not None and found[0] == Usage(**USAGE)
