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

from aiohttp import web

from link_assistant_router.models import ModelAliases
from link_assistant_router.openai_chat import (
    ChatStreamTranslator,
    chat_to_messages,
    message_to_chat,
)
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.translated import answer_translated, parse_object, requested_model


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
