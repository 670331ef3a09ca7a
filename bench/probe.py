"""One request per case and target before the load, to check that each answers correctly.

wrk only counts statuses above 399 as errors and never looks at bodies, so a proxy that
truncated a stream or answered 3xx would still look fast. The probe compares each proxy's
response body with the upstream's own, byte for byte.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

from upstream import SSE_EVENT_COUNT

_TIMEOUT_S = 30


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    chunked: bool
    body: bytes


def send(port: int, body: bytes, headers: dict[str, str], path: str = "/v1/messages") -> Reply:
    """POST ``body`` to ``path`` and read the whole response."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_TIMEOUT_S)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return Reply(
            status=response.status,
            content_type=response.getheader("content-type", ""),
            chunked=response.getheader("transfer-encoding", "").lower() == "chunked",
            body=response.read(),
        )
    finally:
        connection.close()


def _translated_stream(reply: Reply) -> list[str] | None:
    """What is wrong with a translated stream's status and type: None when it was answered."""
    if reply.status != 200:
        return [f"status {reply.status}: {reply.body[:300]!r}"]
    if not reply.content_type.startswith("text/event-stream"):
        return [f"content-type {reply.content_type!r}, expected text/event-stream"]
    return None


def chat_problems(reply: Reply) -> list[str]:
    """What is wrong with a translated (OpenAI chat) stream."""
    found = _translated_stream(reply)
    if found is not None:
        return found
    found = []
    chunks = reply.body.count(b'"object":"chat.completion.chunk"')
    if chunks < SSE_EVENT_COUNT // 2 or not reply.body.endswith(b"data: [DONE]\n\n"):
        found.append(f"{chunks} chunks or no final [DONE]")
    if b'"usage":{"prompt_tokens"' not in reply.body:
        found.append("no usage chunk")
    return found


def responses_problems(reply: Reply) -> list[str]:
    """What is wrong with a translated (OpenAI Responses) stream."""
    found = _translated_stream(reply)
    if found is not None:
        return found
    found = []
    deltas = reply.body.count(b"event: response.output_text.delta\n")
    if deltas < SSE_EVENT_COUNT // 2:
        found.append(f"{deltas} output_text.delta events")
    if b"event: response.completed\n" not in reply.body or b'"input_tokens"' not in reply.body:
        found.append("no response.completed with its usage")
    return found


TRANSLATED = {"chat": chat_problems, "responses": responses_problems}


def problems(reply: Reply, streaming: bool, reference: Reply | None) -> list[str]:
    """What is wrong with ``reply``; ``reference`` is the upstream's reply to the same request."""
    found: list[str] = []
    if reply.status != 200:
        found.append(f"status {reply.status}: {reply.body[:300]!r}")
        return found
    expected_type = "text/event-stream" if streaming else "application/json"
    if not reply.content_type.startswith(expected_type):
        found.append(f"content-type {reply.content_type!r}, expected {expected_type}")
    if streaming:
        events = reply.body.count(b"\n\nevent: ") + 1 if reply.body else 0
        if not reply.chunked:
            found.append("the stream is not chunked")
        if events != SSE_EVENT_COUNT or not reply.body.endswith(b'message_stop"}\n\n'):
            found.append(f"{events} events or no final message_stop (expected {SSE_EVENT_COUNT})")
    if reference is not None and reply.body != reference.body:
        found.append(
            f"body differs from the upstream's ({len(reply.body)} bytes, "
            f"upstream {len(reference.body)})"
        )
    return found
