"""Raw HTTP/1.1 over a socket, for requests no well-behaved client library would send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawAnswer:
    status: int | None  # None: the router closed the connection without answering
    head: str
    body: bytes


async def send_raw(url: str, data: bytes, wait_s: float = 10.0) -> RawAnswer:
    """Send ``data`` as it is to the server at ``url`` and read until it closes the connection
    (requests should say ``Connection: close``)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(data)
        await writer.drain()
        received = await asyncio.wait_for(reader.read(-1), wait_s)
    except (ConnectionResetError, BrokenPipeError):
        received = b""
    finally:
        writer.close()
    if not received.startswith(b"HTTP/1."):
        return RawAnswer(None, "", received)
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return RawAnswer(status, head.decode("latin-1"), body)


def request_bytes(
    method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    """An HTTP/1.1 request, each header as given (bytes: any value goes)."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    if body and not any(name.lower() == b"content-length" for name, _ in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
