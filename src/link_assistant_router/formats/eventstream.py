"""AWS event-stream framing (``application/vnd.amazon.eventstream``), as Bedrock streams it.

A message is: total length and headers length (4-byte big-endian each), the CRC-32 of those 8
bytes, the headers (name length, name, value type 7 = string, value length, value), the payload,
and the CRC-32 of everything before it. ``BedrockStreamTranslator`` turns an Anthropic SSE
stream into one ``chunk`` event per Anthropic event, its payload ``{"bytes": base64(event
JSON)}``, as InvokeModelWithResponseStream sends them. Pure: no I/O.
"""

from __future__ import annotations

import base64
import struct
import zlib

import orjson

from link_assistant_router.proxy.sse import EventTranslator, parse_event

__all__ = [
    "EXCEPTIONS",
    "BedrockStreamTranslator",
    "chunk_message",
    "encode_message",
    "exception_message",
]

_STRING = 7
# Anthropic error types -> Bedrock's exception names (what its SDKs raise).
EXCEPTIONS = {
    "rate_limit_error": "throttlingException",
    "overloaded_error": "serviceUnavailableException",
    "invalid_request_error": "validationException",
    "api_error": "internalServerException",
    "timeout_error": "modelTimeoutException",
}
_CHUNK_HEADERS = (
    (":event-type", "chunk"),
    (":content-type", "application/json"),
    (":message-type", "event"),
)


def encode_message(headers: tuple[tuple[str, str], ...], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    encoded = bytearray()
    for name, value in headers:
        name_bytes, value_bytes = name.encode(), value.encode()
        encoded += struct.pack("!B", len(name_bytes)) + name_bytes
        encoded += struct.pack("!BH", _STRING, len(value_bytes)) + value_bytes
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + bytes(encoded) + payload
    return message + struct.pack("!I", zlib.crc32(message))


def chunk_message(event_json: bytes) -> bytes:
    """A ``chunk`` event carrying one Anthropic event (its JSON, base64-encoded)."""
    payload = b'{"bytes":"' + base64.b64encode(event_json) + b'"}'
    return encode_message(_CHUNK_HEADERS, payload)


def exception_message(error_type: str, message: str) -> bytes:
    """An exception event, which ends a Bedrock stream."""
    headers = (
        (":exception-type", EXCEPTIONS.get(error_type, "internalServerException")),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    )
    return encode_message(headers, orjson.dumps({"message": message}))


class BedrockStreamTranslator(EventTranslator):
    """Anthropic SSE bytes in (any slices), event-stream messages out, one per event."""

    def _event(self, raw: bytes) -> bytes:
        if self._done:
            return b""
        name, data = parse_event(raw)
        if not data:
            return b""
        if name == b"error" or data.startswith(b'{"type":"error"'):
            self._done = True
            try:
                error = orjson.loads(data).get("error") or {}
            except (orjson.JSONDecodeError, AttributeError):
                error = {}
            return exception_message(
                str(error.get("type") or "api_error"),
                str(error.get("message") or "the upstream stream failed"),
            )
        return chunk_message(data)
