"""OpenAI's routes, answered by Claude: ``POST /v1/chat/completions``, ``POST /v1/responses``,
and ``GET /v1/models`` for both kinds of client.

A Chat Completions or Responses request becomes a Messages request (``openai_chat.py``,
``openai_responses.py``) and goes through the translated routes' one exchange
(``exchange.TranslatedRoute``); each route here only says how its requests translate. Upstream
errors keep their status and become OpenAI-shaped. Nothing is stored: ``previous_response_id``
and ``store: true`` are refused, naming the field. Nothing disguises the client as Claude Code.

``GET /v1/models`` with an ``anthropic-version`` header (what the Anthropic SDKs and Claude Code
send) is proxied like any other request. Without one it is an OpenAI client: the answer is
OpenAI's list shape, the upstream's Claude models followed by the alias names the OpenAI routes
accept.
"""

from __future__ import annotations

import calendar
import os
import time
from dataclasses import replace
from typing import Any

from aiohttp import web

from link_assistant_router.formats.aliases import ModelAliases
from link_assistant_router.formats.exchange import TranslatedRoute, Translation
from link_assistant_router.formats.openai_chat import (
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)
from link_assistant_router.formats.openai_common import Rules, requested_model
from link_assistant_router.formats.openai_responses import responses_to_messages
from link_assistant_router.formats.openai_responses_output import message_to_response, request_echo
from link_assistant_router.formats.openai_responses_stream import ResponsesStreamTranslator
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.routes import Route

__all__ = ["ChatCompletions", "Models", "Responses", "openai_model_list", "openai_routes"]


class _OpenAIRoute(TranslatedRoute):
    """A route of OpenAI's: its requests translate under the router's ``Rules``."""

    def __init__(self, proxy: Proxy, aliases: ModelAliases, rules: Rules) -> None:
        super().__init__(proxy, aliases)
        self._rules = rules


class ChatCompletions(_OpenAIRoute):
    """``POST /v1/chat/completions``."""

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        requested = requested_model(document)
        options = document.get("stream_options") or {}
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        model = self._aliases.resolve(requested)
        chat = chat_to_messages(document, model=model, rules=self._rules)
        completion_id = "chatcmpl-" + os.urandom(12).hex()
        created = int(time.time())
        tools = chat.tools  # the way back holds this, not the request (``chat.body``)
        return Translation(
            chat.body,
            convert=lambda message: message_to_chat(
                message,
                model=requested,
                completion_id=completion_id,
                created=created,
                tools=tools,
            ),
            stream=lambda: ChatStreamTranslator(
                model=requested,
                completion_id=completion_id,
                created=created,
                include_usage=include_usage,
                tools=tools,
            ),
        )


class Responses(_OpenAIRoute):
    """``POST /v1/responses``."""

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        requested = requested_model(document)
        model = self._aliases.resolve(requested)
        translated = responses_to_messages(document, model=model, rules=self._rules)
        response_id = "resp_" + os.urandom(12).hex()
        echo = request_echo(document)
        created = int(time.time())
        # The way back needs the tools and how thinking goes back, not the request's body.
        shape = replace(translated, body={})
        return Translation(
            translated.body,
            convert=lambda message: message_to_response(
                message,
                model=requested,
                response_id=response_id,
                created=created,
                echo=echo,
                request=shape,
            ),
            stream=lambda: ResponsesStreamTranslator(
                model=requested,
                response_id=response_id,
                created=created,
                echo=echo,
                request=shape,
            ),
            left_out=translated.tools.left_out,
        )


class Models(TranslatedRoute):
    """``GET /v1/models``: proxied for Anthropic clients, OpenAI's list for the others."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if "anthropic-version" in request.headers:
            return await self._proxy.forward(request, request.raw_path)
        key = await self._proxy.authenticate(request)
        aliases = self._aliases.names()
        listing = Translation(
            None,
            convert=lambda upstream: openai_model_list(upstream, aliases),
            target="/v1/models?limit=1000",
        )
        return await self.answer(request, key, listing)


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


def openai_routes(proxy: Proxy, aliases: ModelAliases, rules: Rules) -> list[Route]:
    """OpenAI's routes; ``/v1/models`` answers Anthropic clients (``anthropic-version``) too."""
    return [
        Route(
            "POST",
            "/v1/chat/completions",
            ChatCompletions(proxy, aliases, rules).handle,
            "chat_completions",
            errors="openai",
        ),
        Route(
            "POST",
            "/v1/responses",
            Responses(proxy, aliases, rules).handle,
            "responses",
            errors="openai",
        ),
        Route(
            "GET",
            "/v1/models",
            Models(proxy, aliases).handle,
            "models",
            errors="openai_unless_anthropic",
        ),
    ]
