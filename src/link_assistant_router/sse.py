"""Server-sent events at the byte level: where complete events end. Pure."""

from __future__ import annotations


def event_boundary(chunk: bytes) -> int:
    """The index just past the last complete SSE event in ``chunk`` (0 when there is none)."""
    lf = chunk.rfind(b"\n\n")
    crlf = chunk.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
