"""Reading SSE: one event's name and data by the specification's rules, the one way every
reader of an upstream stream (the failover hold, the usage meter, the translators) reads it."""

from __future__ import annotations

import pytest

from link_assistant_router.proxy.sse import EventSplitter, event_object, lf_lines, parse_event


@pytest.mark.parametrize(
    ("raw", "name", "data"),
    [
        # Anthropic's layout.
        (
            b'event: message_stop\ndata: {"type":"message_stop"}',
            b"message_stop",
            b'{"type":"message_stop"}',
        ),
        # Data lines join with a newline (two of the old readers joined them with nothing).
        (b"event: x\ndata: first\ndata: second", b"x", b"first\nsecond"),
        # An event nobody names is a "message" (the usage reader called it b"").
        (b"data: {}", b"message", b"{}"),
        (b"event:\ndata: {}", b"message", b"{}"),
        # One space after the colon is not part of the value; any other is.
        (b"event:ping\ndata:{}", b"ping", b"{}"),
        (b"data:  indented \ndata:", b"message", b" indented \n"),
        # Comments, ids and retries are not data; the order of the lines does not matter.
        (b": keep-alive\nid: 7\nretry: 10\ndata: {}\nevent: ping", b"ping", b"{}"),
        # CRLF line ends.
        (b"event: ping\r\ndata: {}", b"ping", b"{}"),
        (b"event: ping\r\ndata: a\r\ndata: b", b"ping", b"a\nb"),
        # No data: nothing a browser would dispatch.
        (b": just a comment", b"message", b""),
        (b"event: ping", b"ping", b""),
    ],
)
def test_an_event_reads_by_the_sse_rules(raw: bytes, name: bytes, data: bytes) -> None:
    assert parse_event(raw) == (name, data)


def test_the_fast_layout_and_the_general_way_agree() -> None:
    data = b'{"type":"content_block_delta","delta":{"text":"a: b"}}'
    assert parse_event(b"event: content_block_delta\ndata: " + data) == parse_event(
        b": note\nevent: content_block_delta\ndata: " + data
    )


@pytest.mark.parametrize(
    ("raw", "document"),
    [
        (b'event: ping\ndata: {"type":"ping"}', {"type": "ping"}),
        (b'event: ping\ndata: {"type":\ndata: "ping"}', {"type": "ping"}),
        (b"event: ping", None),
        (b"event: ping\ndata: [1, 2]", None),
        (b"event: ping\ndata: {not json", None),
    ],
)
def test_an_events_json_object(raw: bytes, document: object) -> None:
    assert event_object(raw) == document


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_the_splitter_cuts_lf_and_crlf_streams_into_the_same_events(size: int) -> None:
    stream = b"event: a\ndata: 1\n\n: comment\n\nevent: b\ndata: 2\ndata: 3\n\n"
    for body in (stream, stream.replace(b"\n", b"\r\n")):
        splitter = EventSplitter()
        events = [e for i in range(0, len(body), size) for e in splitter.split(body[i : i + size])]
        assert [parse_event(event) for event in events] == [
            (b"a", b"1"),
            (b"message", b""),
            (b"b", b"2\n3"),
        ]
        assert splitter.rest() == b""


def test_lf_lines_of_a_longer_start_begin_with_those_of_a_shorter_one() -> None:
    stream = b'event: ping\r\ndata: {}\r\n\r\nevent: error\r\ndata: {"x": 1}\r\n\r\n'
    assert lf_lines(stream) == stream.replace(b"\r\n", b"\n")
    for cut in range(len(stream) + 1):
        assert lf_lines(stream).startswith(lf_lines(stream[:cut]))
    assert lf_lines(b"data: 1\r") == b"data: 1"  # the CR may be half of a CRLF
