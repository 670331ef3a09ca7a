"""A fake Anthropic API on 127.0.0.1, for integration tests.

It records every request it receives (method, path, query, headers, body bytes) and answers
according to the ``x-fake-scenario`` request header (the router forwards it like any other):

- ``json`` (default, unless the body asks for ``"stream": true``): a Messages response
- ``sse`` (default for streaming bodies): a Messages stream with pings, one text block and
  cumulative usage
- ``slow``: the same stream with ``x-fake-delay-ms`` (default 100) between events
- ``drop``: a stream that stops half-way without ending the chunked body
- ``error-429`` / ``error-529`` / ``error-401``: Anthropic-shaped errors (429 with retry-after)
- ``big``: a JSON response of about 1 MB
- ``hang``: never answers
- ``echo``: JSON describing what arrived (used for header and body checks by tests)
- ``error-429-5h``: 429 whose 5-hour window is rejected (``reset`` in ``x-fake-reset``, epoch s)
- ``error-429-scoped``: 429 about this one request while every window is allowed
- ``error-403-org``: 403 "OAuth authentication is currently not allowed for this organization."
- ``stream-error``: 200 SSE whose first event after ``message_start`` is an overloaded error
- ``tool-use``: the model calls ``get_weather`` (JSON or a stream, as the body asks) unless the
  last user turn carries a ``tool_result``; then the ordinary answer
- ``cookie``: a Messages response that sets a cookie (as Cloudflare in front of the API does)
- ``json`` on ``/v1/messages/count_tokens``: ``{"input_tokens": 42}``
- ``agent``: a small agent (JSON or a stream, as the body asks): it calls the first tool of the
  request that ``FakeUpstream.agent_calls`` names (with the input given there) unless the last
  user turn answers a tool call; then it answers ``Done: <the tool's result>``. With thinking on
  (enabled or adaptive) every answer begins with a signed thinking block.
- ``/v1/messages/batches...``: the Message Batches API (``tests/fakes/batches.py``)

Like the real API, the fake refuses (400, Anthropic's message) a request with thinking on that
answers tool calls of an assistant turn not beginning with a thinking block whose signature is
the one the fake gave it, and what each model refuses (``tests/fakes/contract.py``: sampling
parameters, ways of turning thinking off, forced tool use).

Messages answers (``json``, ``sse``, ``slow``, ``drop``) say the usage ``USAGE`` unless the
request's ``x-fake-usage`` header holds a JSON object to put over it (cache-write tiers in
``cache_creation``, ``server_tool_use``, prompts of any size), and the model
``claude-sonnet-5`` unless ``x-fake-model`` names another.

Tests can also give each credential its own scenario (``FakeUpstream.scenarios``, keyed by the
access token or API key) and its own 5-hour utilization (``utilization``), sent back in
``anthropic-ratelimit-unified-*`` headers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from multidict import CIMultiDict

from tests.fakes.batches import FakeBatches
from tests.fakes.contract import contract_refusal

MESSAGE_ID = "msg_fake_01"
MODEL = "claude-sonnet-5"
USAGE = {
    "input_tokens": 25,
    "output_tokens": 12,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 4000,
}
TEXT_PIECES = ["Hello", ", ", "world", "!"]
COUNTED_TOKENS = 42
ERROR_BODIES = {
    "error-429": (
        429,
        {"retry-after": "17", "anthropic-ratelimit-unified-status": "rejected"},
        {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded"},
            "request_id": "req_fake_429",
        },
    ),
    "error-529": (
        529,
        {},
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_fake_529",
        },
    ),
    "error-401": (
        401,
        {},
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "OAuth token has expired."},
            "request_id": "req_fake_401",
        },
    ),
}


def _quota_headers(status: str, utilization: float, reset: int) -> dict[str, str]:
    return {
        "anthropic-ratelimit-unified-status": status,
        "anthropic-ratelimit-unified-reset": str(reset),
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "anthropic-ratelimit-unified-5h-status": status,
        "anthropic-ratelimit-unified-5h-reset": str(reset),
        "anthropic-ratelimit-unified-5h-utilization": f"{utilization}",
        "anthropic-ratelimit-unified-7d-status": "allowed",
        "anthropic-ratelimit-unified-7d-reset": str(reset + 6 * 86400),
        "anthropic-ratelimit-unified-7d-utilization": "0.1",
    }


def credential_of(headers: CIMultiDict[str]) -> str:
    """The upstream credential a request carried (Bearer token or x-api-key)."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    return headers.get("x-api-key", "")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query_string: str
    raw_path: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def credential(self) -> str:
        return credential_of(self.headers)


@dataclass
class FakeUpstream:
    """The fake's state, shared by its handlers and inspected by tests."""

    scenarios: dict[str, str] = field(default_factory=dict)
    utilization: dict[str, float] = field(default_factory=dict)
    reset: int | None = None
    """The quota windows' reset time (epoch seconds) when no ``x-fake-reset`` header says it."""
    crlf: bool = False
    """Streams end their lines with CRLF (as the SSE specification allows) instead of LF."""
    stall_after: int | None = None
    """Streams fall silent (the connection open) after this many events."""
    agent_calls: dict[str, dict[str, object]] = field(default_factory=dict)
    """The ``agent`` scenario's tool calls: Claude tool name -> the input to call it with."""

    requests: list[RecordedRequest] = field(default_factory=list)
    batches: FakeBatches = field(default_factory=FakeBatches)
    streams_finished: int = 0
    streams_cancelled: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                raw_path=request.raw_path,
                headers=CIMultiDict(request.headers),
                body=body,
            )
        )
        refusal = thinking_refusal(body) or contract_refusal(_document(body))
        if refusal is not None:
            return web.json_response(refusal, status=400)
        credential = credential_of(CIMultiDict(request.headers))
        if request.path.startswith("/v1/messages/batches"):
            return await self.batches.handle(request, credential, body)
        scenario = (
            request.headers.get("x-fake-scenario")
            or self.scenarios.get(credential)
            or _default_scenario(body)
        )
        reset = (
            int(request.headers.get("x-fake-reset", "0")) or self.reset or int(time.time()) + 3600
        )
        if scenario == "error-429-5h":
            return web.json_response(
                {
                    "type": "error",
                    "error": {"type": "rate_limit_error", "message": "Rate limited"},
                    "request_id": "req_fake_429_5h",
                },
                status=429,
                headers={**_quota_headers("rejected", 1.0, reset), "retry-after": "120"},
            )
        if scenario == "error-429-scoped":
            return web.json_response(
                {
                    "type": "error",
                    "error": {
                        "type": "rate_limit_error",
                        "message": "Extra usage is required for long context requests.",
                    },
                },
                status=429,
                headers=_quota_headers("allowed", 0.2, reset),
            )
        if scenario == "error-403-org":
            return web.json_response(
                {
                    "type": "error",
                    "error": {
                        "type": "permission_error",
                        "message": "OAuth authentication is currently not allowed for this "
                        "organization.",
                    },
                },
                status=403,
            )
        if scenario == "stream-error":
            return await self._stream_error(request)
        if scenario in ERROR_BODIES:
            status, headers, error = ERROR_BODIES[scenario]
            return web.json_response(error, status=status, headers=headers)
        if scenario == "echo":
            return web.json_response(
                {
                    "method": request.method,
                    "raw_path": request.raw_path,
                    "headers": list(request.headers.items()),
                    "body_length": len(body),
                }
            )
        if scenario == "cookie":
            response = web.json_response(message_json())
            response.set_cookie("__cf_bm", "fake-cloudflare-cookie", path="/", httponly=True)
            return response
        if scenario == "json" and request.method == "GET" and request.path == "/v1/models":
            return web.json_response(MODEL_LIST)
        if scenario == "json" and request.path == "/v1/messages/count_tokens":
            return web.json_response({"input_tokens": COUNTED_TOKENS})
        if scenario == "big":
            blob = {"type": "message", "padding": "x" * (1024 * 1024)}
            return web.Response(body=orjson.dumps(blob), content_type="application/json")
        if scenario == "hang":
            await asyncio.sleep(3600)
        if scenario == "tool-use":
            scenario = _default_scenario(body)
            if not _answers_a_tool(body):
                if scenario == "sse":
                    return await self._stream(request, "tool-use", 0, tool_sse_events())
                return web.json_response(tool_message_json())
        if scenario == "agent" and request.path == "/v1/messages":
            return await self._agent(request, orjson.loads(body))
        usage = {**USAGE, **orjson.loads(request.headers.get("x-fake-usage", "{}"))}
        model = request.headers.get("x-fake-model", MODEL)
        if scenario in ("sse", "slow", "drop"):
            delay = float(request.headers.get("x-fake-delay-ms", "100")) / 1000
            events = sse_events(usage, model)
            return await self._stream(request, scenario, delay if scenario == "slow" else 0, events)
        quota = _quota_headers("allowed", self.utilization.get(credential, 0.0), reset)
        return web.json_response(
            message_json(usage, model), headers={"request-id": "req_fake_json", **quota}
        )

    async def _agent(self, request: web.Request, document: dict[str, object]) -> web.StreamResponse:
        content, stop_reason = agent_turn(document, self.agent_calls)
        message = {**message_json(), "content": content, "stop_reason": stop_reason}
        if document.get("stream") is not True:
            return web.json_response(message)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in message_events(message):
            await response.write(self._lines(event))
        await response.write_eof()
        return response

    def _lines(self, event: bytes) -> bytes:
        return event.replace(b"\n", b"\r\n") if self.crlf else event

    async def _stream_error(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        overloaded = {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
        for event in (sse_events()[0], _event("error", overloaded)):
            await response.write(self._lines(event))
        await response.write_eof()
        return response

    async def _stream(
        self, request: web.Request, scenario: str, delay: float, events: list[bytes]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "request-id": "req_fake_sse"}
        )
        await response.prepare(request)
        events = [self._lines(event) for event in events]
        try:
            for number, event in enumerate(events):
                if scenario == "drop" and number == len(events) // 2:
                    # Half an event, then the connection dies without ending the body.
                    await response.write(event[: len(event) // 2])
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if number == self.stall_after:
                    await asyncio.sleep(3600)
                await response.write(event)
                if delay:
                    await asyncio.sleep(delay)
            await response.write_eof()
            self.streams_finished += 1
        except (asyncio.CancelledError, ConnectionResetError):
            self.streams_cancelled += 1
            self.cancelled.set()
            raise
        return response


def _default_scenario(body: bytes) -> str:
    try:
        document = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return "json"
    return "sse" if isinstance(document, dict) and document.get("stream") is True else "json"


MODEL_LIST = {
    "data": [
        {
            "type": "model",
            "id": "claude-sonnet-5",
            "display_name": "Claude Sonnet 5",
            "created_at": "2026-05-01T00:00:00Z",
        },
        {
            "type": "model",
            "id": "claude-haiku-4-5",
            "display_name": "Claude Haiku 4.5",
            "created_at": "2025-10-01T00:00:00Z",
        },
    ],
    "has_more": False,
    "first_id": "claude-sonnet-5",
    "last_id": "claude-haiku-4-5",
}


def _answers_a_tool(body: bytes) -> bool:
    messages = orjson.loads(body).get("messages") or [{}]
    content = messages[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


TOOL_CALL = {"type": "tool_use", "id": "toolu_fake_01", "name": "get_weather"}
TOOL_INPUT = {"city": "Paris"}


def tool_message_json() -> dict[str, object]:
    return {
        **message_json(),
        "content": [
            {"type": "text", "text": "Let me check."},
            {**TOOL_CALL, "input": TOOL_INPUT},
        ],
        "stop_reason": "tool_use",
    }


def tool_sse_events() -> list[bytes]:
    """A stream in which the model says a sentence, then calls get_weather."""
    start = {**message_json(), "content": [], "usage": {**USAGE, "output_tokens": 1}}
    arguments = orjson.dumps(TOOL_INPUT).decode()
    return [
        _event("message_start", {"type": "message_start", "message": start}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Let me check."},
            },
        ),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {**TOOL_CALL, "input": {}},
            },
        ),
        *[
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
            for part in (arguments[:9], arguments[9:])
        ],
        _event("content_block_stop", {"type": "content_block_stop", "index": 1}),
        _event(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": USAGE},
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]


THINKING_ON = frozenset({"enabled", "adaptive"})
THINKING_KEY = b"fake-upstream-thinking-signatures"


def _document(body: bytes) -> object:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def thinking_signature(thinking: str) -> str:
    """The signature the fake gives a thinking block (and checks when it comes back)."""
    digest = hashlib.sha256(THINKING_KEY + thinking.encode()).digest()
    return base64.b64encode(digest).decode()


def _thinking_on(document: dict[str, object]) -> bool:
    thinking = document.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in THINKING_ON


def thinking_refusal(body: bytes) -> dict[str, object] | None:
    """Anthropic's 400 for a tool loop sent with thinking on whose last assistant turn does not
    begin with its (intact) thinking block; None when the request is fine."""
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or not _thinking_on(document):
        return None
    messages = document.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return None
    last, assistant = messages[-1], messages[-2]
    if last.get("role") != "user" or assistant.get("role") != "assistant":
        return None
    answers = [b for b in last.get("content") or () if isinstance(b, dict)]
    blocks = [b for b in assistant.get("content") or () if isinstance(b, dict)]
    if not any(b.get("type") == "tool_result" for b in answers) or not blocks:
        return None
    first = blocks[0]
    if first.get("type") == "redacted_thinking" or (
        first.get("type") == "thinking"
        and first.get("signature") == thinking_signature(str(first.get("thinking")))
    ):
        return None
    at = len(messages) - 2
    found = first.get("type") if first.get("type") != "thinking" else "a changed signature"
    message = (
        f"messages.{at}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        f"`{found}`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
        "We recommend you include thinking blocks from previous turns. To avoid this "
        "requirement, disable `thinking`. Please consult our documentation at "
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    )
    return {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": "req_fake_400_thinking",
    }


def agent_turn(
    document: dict[str, object], calls: dict[str, dict[str, object]]
) -> tuple[list[dict[str, object]], str]:
    """The ``agent`` scenario's answer: its content blocks and stop reason."""
    content: list[dict[str, object]] = []
    if _thinking_on(document):
        thought = "I should use a tool, then answer."
        content.append(
            {"type": "thinking", "thinking": thought, "signature": thinking_signature(thought)}
        )
    messages = document.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else {}
    results = [
        block
        for block in (last.get("content") if isinstance(last, dict) else None) or ()
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    if results:
        result = results[-1].get("content")
        if isinstance(result, list):
            result = "".join(str(part.get("text", "")) for part in result if isinstance(part, dict))
        content.append({"type": "text", "text": f"Done: {result}"})
        return content, "end_turn"
    tools = document.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        name = tool.get("name") if isinstance(tool, dict) else None
        if isinstance(name, str) and name in calls:
            call = {"type": "tool_use", "id": f"toolu_agent_{len(messages or ())}", "name": name}
            content.append({**call, "input": calls[name]})
            return content, "tool_use"
    content.append({"type": "text", "text": "No tool to call."})
    return content, "end_turn"


def message_events(message: dict[str, object]) -> list[bytes]:
    """A whole Messages answer as the stream Anthropic would send for it."""
    blocks = message["content"]
    assert isinstance(blocks, list)
    start = {**message, "content": [], "stop_reason": None, "usage": {**USAGE, "output_tokens": 1}}
    events = [_event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        kind = block["type"]
        opened = {**block}
        deltas: list[dict[str, object]] = []
        if kind == "thinking":
            opened.update(thinking="", signature="")
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif kind == "text":
            opened["text"] = ""
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif kind == "tool_use":
            opened["input"] = {}
            arguments = orjson.dumps(block["input"]).decode()
            middle = len(arguments) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in (arguments[:middle], arguments[middle:])
            ]
        start_event = {"type": "content_block_start", "index": index, "content_block": opened}
        events.append(_event("content_block_start", start_event))
        for delta in deltas:
            delta_event = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append(_event("content_block_delta", delta_event))
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    finish = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events += [
        _event("message_delta", {"type": "message_delta", "delta": finish, "usage": USAGE}),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events


def message_json(usage: dict[str, object] | None = None, model: str = MODEL) -> dict[str, object]:
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "".join(TEXT_PIECES)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE if usage is None else usage,
    }


def _event(name: str, data: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def sse_events(usage: dict[str, object] | None = None, model: str = MODEL) -> list[bytes]:
    """A complete Messages stream; the final message_delta restates cumulative usage."""
    usage = USAGE if usage is None else usage
    start_usage = {**usage, "output_tokens": 1}
    events = [
        _event(
            "message_start",
            {
                "type": "message_start",
                "message": {**message_json(usage, model), "content": [], "usage": start_usage},
            },
        ),
        _event("ping", {"type": "ping"}),
        _event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for piece in TEXT_PIECES:
        events.append(
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
        )
    events += [
        _event("ping", {"type": "ping"}),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": usage,
            },
        ),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events


@contextlib.asynccontextmanager
async def running_fake_upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    runner = web.AppRunner(fake.app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def _serve_forever(port: int) -> None:
    fake = FakeUpstream()
    runner = web.AppRunner(fake.app(), handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"fake Anthropic upstream on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":  # python -m tests.fakes.upstream [PORT], for manual runs
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 18999))
