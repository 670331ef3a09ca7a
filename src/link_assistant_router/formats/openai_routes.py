"""OpenAI's routes, answered by Claude: ``POST /v1/chat/completions``, ``POST /v1/responses``,
and ``GET /v1/models`` for both kinds of client.

A Chat Completions or Responses request becomes a Messages request (``openai_chat.py``,
``openai_responses.py``) and goes out through the same account loop as proxied requests
(``Proxy.exchange``: limits, failover, sticky sessions), with API-key accounts first: a
subscription's login is meant for Claude Code (REFERENCE §5). The answer comes back translated:
whole, or event by event as the upstream stream arrives. Upstream errors keep their status and
become OpenAI-shaped. Nothing is stored: ``previous_response_id`` and ``store: true`` are
refused, naming the field. Nothing disguises the client as Claude Code.

``GET /v1/models`` with an ``anthropic-version`` header (what the Anthropic SDKs and Claude Code
send) is proxied like any other request. Without one it is an OpenAI client: the answer is
OpenAI's list shape, the upstream's Claude models followed by the alias names the OpenAI routes
accept.
"""

from __future__ import annotations

import calendar
import os
import time
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.boundary import openai_error
from link_assistant_router.formats.aliases import ModelAliases
from link_assistant_router.formats.exchange import answer_translated, parse_object
from link_assistant_router.formats.openai_chat import (
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)
from link_assistant_router.formats.openai_common import requested_model
from link_assistant_router.formats.openai_responses import (
    ResponsesStreamTranslator,
    message_to_response,
    request_echo,
    responses_to_messages,
)
from link_assistant_router.proxy.pipeline import Outgoing, Proxy
from link_assistant_router.requestlog import REQUEST_LOG

ANTHROPIC_VERSION = "2023-06-01"


class ChatCompletions:
    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = await self._proxy.authenticate(request)
        document = parse_object(await self._proxy.read_body(request))
        requested = requested_model(document)
        options = document.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        translated = chat_to_messages(document, model=self._aliases.resolve(requested))
        completion_id = "chatcmpl-" + os.urandom(12).hex()
        created = int(time.time())
        return await answer_translated(
            request,
            self._proxy,
            key,
            translated,
            make_stream=lambda: ChatStreamTranslator(
                model=requested,
                completion_id=completion_id,
                created=created,
                include_usage=include_usage,
            ),
            convert=lambda message: message_to_chat(
                message, model=requested, completion_id=completion_id, created=created
            ),
        )


class Responses:
    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = await self._proxy.authenticate(request)
        document = parse_object(await self._proxy.read_body(request))
        requested = requested_model(document)
        translated = responses_to_messages(document, model=self._aliases.resolve(requested))
        response_id = "resp_" + os.urandom(12).hex()
        echo = request_echo(document)
        created = int(time.time())
        return await answer_translated(
            request,
            self._proxy,
            key,
            translated,
            make_stream=lambda: ResponsesStreamTranslator(
                model=requested, response_id=response_id, created=created, echo=echo
            ),
            convert=lambda message: message_to_response(
                message, model=requested, response_id=response_id, created=created, echo=echo
            ),
        )


def _epoch(created_at: Any) -> int:
    """``2025-09-29T00:00:00Z`` -> seconds since the epoch (0 when unreadable)."""
    if not isinstance(created_at, str):
        return 0
    try:
        return calendar.timegm(time.strptime(created_at[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0


def openai_model_list(upstream: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    """Anthropic's model list -> OpenAI's, with the aliases after the real models."""
    data = [
        {
            "id": model["id"],
            "object": "model",
            "created": _epoch(model.get("created_at")),
            "owned_by": "anthropic",
        }
        for model in upstream.get("data") or []
        if isinstance(model, dict) and isinstance(model.get("id"), str)
    ]
    known = {entry["id"] for entry in data}
    data += [
        {"id": name, "object": "model", "created": 0, "owned_by": "link-assistant-router"}
        for name in aliases
        if name not in known
    ]
    return {"object": "list", "data": data}


class Models:
    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "anthropic-version" in request.headers:
            return await self._proxy.forward(request, request.raw_path)
        entry = request[REQUEST_LOG]
        key = await self._proxy.authenticate(request)
        outgoing = Outgoing(
            "GET", "/v1/models?limit=1000", [("anthropic-version", ANTHROPIC_VERSION)], None
        )
        answer = await self._proxy.exchange(key, outgoing, entry)
        try:
            raw = answer.prefix if answer.complete else await answer.response.read()
            status = answer.response.status
        finally:
            answer.response.close()
        if status != 200:
            try:
                error = orjson.loads(raw)["error"]
                error_type, message = str(error["type"]), str(error["message"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                error_type, message = "api_error", f"the upstream answered {status}"
            body = openai_error(status, error_type, message)
        else:
            body = orjson.dumps(openai_model_list(orjson.loads(raw), self._aliases.names()))
        entry.bytes_out = len(body)
        return web.Response(status=status, body=body, content_type="application/json")
