"""Token usage of one answer: read from a Messages JSON body, or from its SSE stream as it passes.

A stream's ``message_start`` carries the first counts; each ``message_delta`` carries cumulative
counts, so the non-null fields of the last one overwrite (never add to) what came before.
"""

from __future__ import annotations

import orjson

from link_assistant_router.proxy.sse import event_boundary, parse_event
from link_assistant_router.requestlog import Usage

__all__ = ["StreamUsage", "usage_from_body"]


def usage_from_body(body: bytes) -> tuple[Usage, str | None] | None:
    """The usage and model of a whole (not streamed) Messages answer; None for anything else."""
    if b'"usage"' not in body:  # most answers that are not messages: no parse at all
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.get("type") != "message":
        return None
    usage = Usage()
    usage.update(document.get("usage"))
    model = document.get("model")
    return usage, model if isinstance(model, str) else None


class StreamUsage:
    """Reads the usage of a Messages event stream from its bytes as they pass, copying nothing.

    ``feed`` takes the stream in pieces split anywhere; pieces that end on an event boundary
    (as the relay writes them) cost one search for the boundary and one for ``message_``.
    ``complete`` turns true at ``message_stop``: a stream cut short keeps what it saw.
    """

    __slots__ = ("_tail", "complete", "model", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model: str | None = None
        self.complete = False
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if self._tail:
            chunk, self._tail = self._tail + chunk, b""
        cut = event_boundary(chunk)
        if cut < len(chunk):
            self._tail = chunk[cut:]
            chunk = chunk[:cut]
        if b"message_" in chunk:
            self._events(chunk)

    def feed_events(self, chunk: bytes) -> None:
        """``feed`` for a piece that ends on an event boundary (as the relay writes them)."""
        if self._tail:
            self.feed(chunk)
        elif b"message_" in chunk:
            self._events(chunk)

    def _events(self, chunk: bytes) -> None:
        """Parse only the events around each ``message_`` (the others are left unread)."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        position = chunk.find(b"message_")
        while position >= 0:
            start = chunk.rfind(b"\n\n", 0, position) + 2  # 1 when none: the chunk's start
            end = chunk.find(b"\n\n", position)
            if end < 0:
                end = len(chunk)
            self._event(chunk[max(start, 0) if start > 1 else 0 : end])
            position = chunk.find(b"message_", end)

    def _event(self, event: bytes) -> None:
        name, data = parse_event(event)
        if name == b"message_stop":
            self.complete = True
        elif name in (b"message_start", b"message_delta"):
            self._read(name, data)

    def _read(self, name: bytes, data: bytes) -> None:
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(document, dict):
            return
        if name == b"message_start":
            message = document.get("message")
            if isinstance(message, dict):
                self.usage = Usage()
                self.usage.update(message.get("usage"))
                model = message.get("model")
                if isinstance(model, str):
                    self.model = model
        else:
            if self.usage is None:
                self.usage = Usage()
            self.usage.update(document.get("usage"))
