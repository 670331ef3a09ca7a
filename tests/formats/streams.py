"""Anthropic stream events for the translators' tests, written as the API writes them."""

from __future__ import annotations

MESSAGE_START = b'event: message_start\ndata: {"type":"message_start","message":{"usage":{}}}\n\n'
TEXT_BLOCK_START = (
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
OVERLOADED = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
# Texts as JSON strings: plain, escapes, quotes, backslashes, an escaped slash, empty.
TEXTS = [b'"plain"', b'"caf\\u00e9\\n"', b'"say \\"hi\\""', b'"back\\\\"', b'"\\/"', b'""']


def text_delta(index: int, text: bytes) -> bytes:
    """A ``text_delta`` event of block ``index``; ``text`` is its JSON string."""
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
        + str(index).encode()
        + b',"delta":{"type":"text_delta","text":'
        + text
        + b"}}\n\n"
    )
