"""Server-sent events at the byte level: where complete events end, splitting a stream that
arrives in arbitrary slices into whole events, and reading one event's name and data. Pure.

The rules are the SSE specification's: an event is lines up to a blank line; ``event:`` names
it (``message`` when nothing does), each ``data:`` line adds a line to its data (the lines join
with ``\n``), one space after the colon is not part of the value, and lines that begin with
``:`` are comments. Lines end in LF or CRLF (``EventSplitter`` hands out events with LF line
ends); a lone CR, which no upstream sends, is not read as a line end.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import orjson

__all__ = [
    "PASSTHROUGH",
    "TEXT_DELTA",
    "EventSplitter",
    "EventTranslator",
    "Passthrough",
    "StreamTranslator",
    "event_boundary",
    "event_object",
    "lf_lines",
    "parse_event",
]

_DEFAULT_NAME = b"message"
# A text delta (the most frequent event) exactly as Anthropic writes it: its block's index, and
# its text as one JSON string (escapes and all). Stream translators take such events without
# parsing them; anything else is parsed.
TEXT_DELTA = re.compile(
    rb'event: content_block_delta\ndata: \{"type":"content_block_delta","index":(\d{1,9}),'
    rb'"delta":\{"type":"text_delta","text":("[^"\\]*(?:\\.[^"\\]*)*")\}\}'
)


def parse_event(raw: bytes) -> tuple[bytes, bytes]:
    """One event (without its blank-line terminator) -> its name and its data.

    Data lines join with ``\n``; an event without data has data ``b""`` (a browser would not
    dispatch it). Anthropic's layout, ``event: <name>\ndata: <json>``, costs a few searches
    and no split.
    """
    if raw.startswith(b"event: "):
        newline = raw.find(b"\n")
        if (
            newline > 7
            and raw[newline - 1] != 13  # CRLF line ends are read the general way
            and raw.startswith(b"data: ", newline + 1)
            and raw.find(b"\n", newline + 1) < 0
        ):
            return raw[7:newline], raw[newline + 7 :]
    return _fields(raw)


def _fields(raw: bytes) -> tuple[bytes, bytes]:
    name = _DEFAULT_NAME
    data: list[bytes] = []
    for line in raw.split(b"\n"):
        field, _, value = line.removesuffix(b"\r").partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value or _DEFAULT_NAME
    return name, b"\n".join(data)


def event_object(raw: bytes) -> dict[str, Any] | None:
    """The JSON object an event's data holds; None when it holds none (or no JSON object)."""
    data = parse_event(raw)[1]
    if not data:
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def lf_lines(data: bytes) -> bytes:
    """The start of a stream with its CRLF line ends as LF. A last CR, which may be half of a
    CRLF still to come, is left out, so the result for a longer start begins with this one."""
    if data.endswith(b"\r"):
        data = data[:-1]
    return data.replace(b"\r\n", b"\n")


def event_boundary(chunk: bytes) -> int:
    """The index just past the last complete SSE event in ``chunk`` (0 when there is none)."""
    lf = chunk.rfind(b"\n\n")
    crlf = chunk.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)


class EventSplitter:
    """Cuts an SSE body fed in any slices into whole events (CRLF line ends become LF).

    ``split`` returns the events a slice completed, without their blank-line terminators;
    ``rest`` returns what is left at EOF (an unterminated last event, or b"").
    """

    __slots__ = ("_held_cr", "_partial")

    def __init__(self) -> None:
        self._partial = bytearray()  # the start of an event not complete yet
        self._held_cr = False  # the slice ended in CR, which may be half of a CRLF

    def split(self, chunk: bytes) -> list[bytes]:
        if self._held_cr or b"\r" in chunk:
            chunk = self._without_cr(chunk)
        if self._partial:
            # Join only when the slice can end the event, so an event fed piecemeal costs linear
            # time (and the partial event never holds a blank line).
            if b"\n\n" not in chunk and not (chunk[:1] == b"\n" and self._partial[-1] == 10):
                self._partial += chunk
                return []
            self._partial += chunk
            chunk = bytes(self._partial)
            self._partial.clear()
        events = chunk.split(b"\n\n")
        rest = events.pop()
        if rest:
            self._partial += rest
        return events

    def rest(self) -> bytes:
        rest = bytes(self._partial)
        self._partial.clear()
        return rest

    def _without_cr(self, chunk: bytes) -> bytes:
        if self._held_cr:
            chunk, self._held_cr = b"\r" + chunk, False
        if chunk.endswith(b"\r"):
            chunk, self._held_cr = chunk[:-1], True
        return chunk.replace(b"\r\n", b"\n")


class StreamTranslator(Protocol):
    """Turns an Anthropic event stream, fed in any slices, into the client's format."""

    def feed(self, chunk: bytes) -> bytes:
        """Any slice of the upstream's stream -> the bytes for the client (b"" if none yet)."""

    def close(self) -> bytes:
        """At the upstream's end: what is left, and the stream's ending."""

    def abandon_partial(self) -> None:
        """Forget an event the upstream did not finish (before the connection-lost error)."""


class Passthrough:
    """The stream translator of Anthropic clients: the upstream's bytes as they came."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def close(self) -> bytes:
        return b""

    def abandon_partial(self) -> None:
        pass


PASSTHROUGH = Passthrough()


class EventTranslator:
    """The shell of a stream translator: Anthropic SSE bytes in (any slices), the client's format
    out. Subclasses turn one whole event into bytes (``_event``, which sets ``_done`` when the
    stream must end) and say what ends a stream the upstream simply stopped (``_end``)."""

    def __init__(self) -> None:
        self._events = EventSplitter()
        self._done = False

    # Translators that take plain text deltas without parsing them (``_text_delta``) say so:
    # for the others every event is parsed, with no expression tried first.
    takes_text_deltas = False

    def feed(self, chunk: bytes) -> bytes:
        """Any slice of the upstream SSE body -> the translated bytes (b"" if none complete)."""
        if self._done:
            return b""
        events = self._events.split(chunk)
        if not events:
            return b""
        if not self.takes_text_deltas:
            if len(events) == 1:
                return self._event(events[0])
            return b"".join([self._event(raw) for raw in events])
        text_delta = TEXT_DELTA.fullmatch
        out: list[bytes] = []
        for raw in events:
            found = text_delta(raw)
            made = self._text_delta(found) if found is not None and not self._done else None
            out.append(made if made is not None else self._event(raw))
        return b"".join(out)

    def _text_delta(self, found: re.Match[bytes]) -> bytes | None:
        """What a plain text delta (``TEXT_DELTA``'s match: the block index, the text as a JSON
        string) becomes, without parsing its event; None to have ``_event`` parse it."""
        return None

    def abandon_partial(self) -> None:
        """Forget an event the upstream did not finish (before the connection-lost error)."""
        self._events.rest()

    def close(self) -> bytes:
        """At upstream EOF: what an unterminated last event gives, then the ending (once)."""
        if self._done:
            return b""
        rest = self._events.rest()
        out = self._event(rest) if rest.strip() else b""
        if not self._done:
            out += self._end()
            self._done = True
        return out

    def _event(self, raw: bytes) -> bytes:
        raise NotImplementedError

    def _end(self) -> bytes:
        return b""
