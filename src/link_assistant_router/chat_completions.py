"""``POST /v1/chat/completions``: OpenAI's Chat Completions API, answered by Claude.

The request becomes a Messages request (``openai_chat.py``) and goes out through the same
account loop as proxied requests (``Proxy.exchange``: limits, failover, sticky sessions), with
API-key accounts first: a subscription's login is meant for Claude Code (REFERENCE §5). The
answer comes back translated: whole, or event by event as the upstream stream arrives. Upstream
errors keep their status and become OpenAI-shaped. Nothing disguises the client as Claude Code.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts import Account
from link_assistant_router.boundary import openai_error
from link_assistant_router.errors import UpstreamUnreachable
from link_assistant_router.models import ModelAliases
from link_assistant_router.openai_chat import (
    ChatRequestError,
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)
from link_assistant_router.proxy import Answer, Outgoing, Proxy
from link_assistant_router.relay import UPSTREAM_DROPPED, UPSTREAM_LOST_EVENT, read_usage
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.usage import StreamUsage

ANTHROPIC_VERSION = "2023-06-01"


def _api_key_first(account: Account) -> bool:
    return account.kind == "api-key"


class ChatCompletions:
    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases

    async def handle(self, request: web.Request) -> web.StreamResponse:
        entry = request[REQUEST_LOG]
        key = await self._proxy.authenticate(request)
        document = _parse(await self._proxy.read_body(request))
        requested = document.get("model")
        if not isinstance(requested, str) or not requested:
            raise ChatRequestError("model is required (a string)", "model")
        stream = document.get("stream", False)
        if not isinstance(stream, bool):
            raise ChatRequestError("stream must be true or false", "stream")
        options = document.get("stream_options") or {}
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )
        translated = chat_to_messages(document, model=self._aliases.resolve(requested))
        entry.model = translated["model"]
        headers = [("anthropic-version", ANTHROPIC_VERSION), ("content-type", "application/json")]
        if stream:
            headers.append(("accept", "text/event-stream"))
        outgoing = Outgoing("POST", "/v1/messages", headers, orjson.dumps(translated))
        answer = await self._proxy.exchange(
            key, outgoing, entry, session_from=request.headers, prefer=_api_key_first
        )
        try:
            if answer.response.status != 200:
                return await _error(answer, entry)
            completion_id = "chatcmpl-" + os.urandom(12).hex()
            created = int(time.time())
            if stream:
                translator = ChatStreamTranslator(
                    model=requested,
                    completion_id=completion_id,
                    created=created,
                    include_usage=include_usage,
                )
                return await _relay_stream(request, answer, entry, translator)
            raw = await _whole_body(answer)
            read_usage(entry, raw)
            message = orjson.loads(raw)
            chat = message_to_chat(
                message, model=requested, completion_id=completion_id, created=created
            )
            body = orjson.dumps(chat)
            entry.bytes_out = len(body)
            return web.Response(body=body, content_type="application/json")
        finally:
            answer.response.close()


def _parse(body: bytes | None) -> dict[str, Any]:
    if not body:
        raise ChatRequestError("the request body is empty: send a JSON object")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ChatRequestError(f"the request body is not valid JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise ChatRequestError("the request body must be a JSON object")
    return document


async def _whole_body(answer: Answer) -> bytes:
    if answer.complete:
        return answer.prefix
    try:
        return answer.prefix + await answer.response.read()
    except UPSTREAM_DROPPED as exc:
        raise UpstreamUnreachable("the upstream closed the connection mid-response") from exc


async def _error(answer: Answer, entry: RequestLog) -> web.Response:
    """The upstream's error, with its status, in OpenAI's shape."""
    response = answer.response
    raw = await _whole_body(answer)
    error_type, message = "api_error", f"the upstream answered {response.status}"
    try:
        error = orjson.loads(raw)["error"]
        error_type, message = str(error["type"]), str(error["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        pass
    headers = {
        name: response.headers[name]
        for name in ("retry-after", "request-id")
        if name in response.headers
    }
    body = openai_error(response.status, error_type, message)
    entry.bytes_out = len(body)
    return web.Response(
        status=response.status, body=body, content_type="application/json", headers=headers
    )


async def _relay_stream(
    request: web.Request,
    answer: Answer,
    entry: RequestLog,
    translator: ChatStreamTranslator,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
    )
    content = answer.response.content
    meter = StreamUsage()
    try:
        await response.prepare(request)
        chunk, done = answer.prefix, answer.complete
        while True:
            if chunk:
                meter.feed(chunk)
            out = translator.feed(chunk) if chunk else b""
            if out:
                entry.bytes_out += len(out)
                await response.write(out)
            if done:
                break
            try:
                chunk = await content.readany()
            except UPSTREAM_DROPPED:
                entry.outcome = "upstream_lost"
                chunk, done = UPSTREAM_LOST_EVENT, True
                continue
            done = not chunk
        tail = translator.close()
        entry.bytes_out += len(tail)
        await response.write(tail)
        await response.write_eof()
    except ConnectionResetError:
        entry.outcome = "client_disconnected"
    finally:
        entry.usage, entry.usage_complete = meter.usage, meter.complete
    return response
