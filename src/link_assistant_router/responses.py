"""``POST /v1/responses``: OpenAI's Responses API, answered by Claude.

The request becomes a Messages request (``openai_responses.py``) and goes through the same
account loop as every other format (``translated.answer_translated``: limits, usage, failover,
API-key accounts first). Nothing is stored: ``previous_response_id`` and ``store: true`` are
refused, naming the field. Nothing disguises the client as Claude Code.
"""

from __future__ import annotations

import os
import time

from aiohttp import web

from link_assistant_router.models import ModelAliases
from link_assistant_router.openai_responses import (
    ResponsesStreamTranslator,
    message_to_response,
    request_echo,
    responses_to_messages,
)
from link_assistant_router.proxy.pipeline import Proxy
from link_assistant_router.translated import answer_translated, parse_object, requested_model


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
