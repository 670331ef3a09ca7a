"""The one exchange of every route whose clients speak another format than Messages (OpenAI
Chat Completions and Responses, the OpenAI model list, Bedrock InvokeModel and CountTokens).

``TranslatedRoute.handle`` authenticates the key, reads the client's JSON, asks the format to
``translate`` it, sends the Messages request the router wrote through the same account loop as
proxied requests (``Proxy.exchange``: limits, failover, sticky sessions), with API-key accounts
first, and answers with the translation: a stream through the format's stream translator
(``relay.relay_events``, the loop Anthropic streams go through too, reading the usage from the
upstream's bytes), a whole answer through its converter, an upstream error in the client's shape
(OpenAI's unless the format says otherwise). A format supplies only these differences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts.account import Account
from link_assistant_router.boundary import openai_error
from link_assistant_router.errors import UpstreamUnreachable
from link_assistant_router.formats.aliases import ModelAliases
from link_assistant_router.proxy.pipeline import Answer, Outgoing, Proxy, parse_object
from link_assistant_router.proxy.relay import read_rest, read_usage, relay_events
from link_assistant_router.proxy.sse import StreamTranslator
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.storage.records import KeyRecord

__all__ = [
    "ANTHROPIC_VERSION",
    "LEFT_OUT_HEADER",
    "TranslatedRoute",
    "Translation",
    "api_key_first",
    "messages_headers",
    "openai_error_answer",
    "upstream_error",
    "whole_body",
]

ANTHROPIC_VERSION = "2023-06-01"
LEFT_OUT_HEADER = "x-router-tools-left-out"
"""Names the built-in tools of the client's request that Claude could not be given."""


@dataclass(frozen=True, slots=True)
class Translation:
    """A client's request as a request to the upstream, and how its answer goes back."""

    body: dict[str, Any] | None
    """The Messages request (None: a GET)."""
    convert: Callable[[dict[str, Any]], dict[str, Any]]
    """The upstream's whole answer -> the client's."""
    stream: Callable[[], StreamTranslator] | None = None
    """A new stream translator, for a ``body`` that asks for a stream."""
    target: str = "/v1/messages"
    headers: Sequence[tuple[str, str]] = ()
    """More request headers (such as betas)."""
    left_out: Sequence[str] = ()
    """The client's tools the request was sent without (said to the client and in the log)."""


class TranslatedRoute:
    """The shell of a translated route: a format subclasses it and says how a request
    translates (``translate``); it may say how an upstream error looks to its clients
    (``error``) and what its streams are sent as (``stream_type``)."""

    stream_type = "text/event-stream"

    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = await self._proxy.authenticate(request)
        # Not kept in a name here: ``answer`` lets go of the request once an answer is chosen.
        return await self.answer(request, key, await self._translated(request))

    async def _translated(self, request: web.Request) -> Translation:
        return self.translate(request, parse_object(await self._proxy.read_body(request)))

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        """The client's request (its JSON body) as a Messages request, and the way back."""
        raise NotImplementedError

    async def error(self, answer: Answer, entry: RequestLog) -> web.Response:
        """The upstream's error answer in the client's shape: OpenAI's unless overridden."""
        return await openai_error_answer(answer, entry)

    async def answer(
        self, request: web.Request, key: KeyRecord, translation: Translation
    ) -> web.StreamResponse:
        """Send ``translation``'s request for ``key`` and answer the client with its way back."""
        entry = request[REQUEST_LOG]
        body = translation.body
        streamed = body is not None and body.get("stream") is True
        make_stream = translation.stream if streamed else None
        if body is None:
            headers = [("anthropic-version", ANTHROPIC_VERSION)]
            outgoing = Outgoing("GET", translation.target, headers, None)
        else:
            entry.model = body.get("model")
            headers = [*messages_headers(make_stream is not None), *translation.headers]
            outgoing = Outgoing("POST", translation.target, headers, orjson.dumps(body))
        said: dict[str, str] = {}
        if translation.left_out:
            entry.tools_left_out = tuple(translation.left_out)
            said[LEFT_OUT_HEADER] = ", ".join(translation.left_out)
        answer = await self._proxy.exchange(
            key, outgoing, entry, session_from=request.headers, prefer=api_key_first
        )
        # No account is tried after this: a long stream need not keep the request.
        convert = translation.convert
        del outgoing, body, translation
        try:
            if answer.response.status != 200:
                error = await self.error(answer, entry)
                error.headers.update(said)
                return error
            if make_stream is not None:
                response = web.StreamResponse(
                    headers={
                        "content-type": self.stream_type,
                        "cache-control": "no-cache",
                        **said,
                    }
                )
                return await relay_events(
                    request,
                    response,
                    answer.response,
                    entry,
                    held=answer.prefix,
                    translator=make_stream(),
                )
            raw = await whole_body(answer)
            read_usage(entry, raw)
            try:
                document = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise UpstreamUnreachable("the upstream's answer was not JSON") from exc
            reply = orjson.dumps(convert(document))
            entry.bytes_out = len(reply)
            return web.Response(body=reply, content_type="application/json", headers=said)
        finally:
            answer.response.close()


def api_key_first(account: Account) -> bool:
    """Translated formats draw on API-key accounts first: a subscription's login is meant for
    Claude Code (REFERENCE §5)."""
    return account.kind == "api-key"


def messages_headers(stream: bool) -> list[tuple[str, str]]:
    """The headers of a Messages request the router writes itself."""
    headers = [("anthropic-version", ANTHROPIC_VERSION), ("content-type", "application/json")]
    if stream:
        headers.append(("accept", "text/event-stream"))
    return headers


async def whole_body(answer: Answer) -> bytes:
    return answer.prefix if answer.complete else await read_rest(answer.response, answer.prefix)


async def upstream_error(answer: Answer) -> tuple[str, str]:
    """The type and message of an upstream error answer (read whole), for other formats."""
    raw = await whole_body(answer)
    try:
        error = orjson.loads(raw)["error"]
        return str(error["type"]), str(error["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "api_error", f"the upstream answered {answer.response.status}"


async def openai_error_answer(answer: Answer, entry: RequestLog) -> web.Response:
    """The upstream's error, with its status, in OpenAI's shape."""
    response = answer.response
    error_type, message = await upstream_error(answer)
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
