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
    continued: bool = False  # a "100 Continue" came first


async def send_raw(url: str, data: bytes, wait_s: float = 10.0) -> RawAnswer:
    """Send ``data`` as it is to the server at ``url`` and read until it closes the connection
    (requests should say ``Connection: close``)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(data)
        await writer.drain()
        received = await asyncio.wait_for(_read_answer(reader), wait_s)
    except (ConnectionResetError, BrokenPipeError):
        received = b""
    finally:
        writer.close()
    continued = received.startswith(b"HTTP/1.1 100 ")
    if continued:
        received = received.split(b"\r\n\r\n", 1)[1]
    if not received.startswith(b"HTTP/1."):
        return RawAnswer(None, "", received, continued)
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return RawAnswer(status, head.decode("latin-1"), body, continued)


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """One answer: its head, then as many bytes as its Content-Length says (else until the
    connection closes)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    if head.startswith(b"HTTP/1.1 100 "):
        return head + await _read_answer(reader)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return head + await reader.readexactly(int(line.split(b":", 1)[1]))
    return head + await reader.read(-1)


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


class RawUpstream:
    """An upstream on 127.0.0.1 that answers every request with the same raw bytes (a response
    no HTTP library would write), then closes the connection."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        self.requests += 1
        writer.write(self.answer)
        await writer.drain()
        writer.close()
