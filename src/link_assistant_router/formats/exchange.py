"""What the translated routes (OpenAI Chat Completions, Responses) share: reading the client's
JSON, the upstream's whole answer or its error in OpenAI's shape, and relaying a translated
stream while the ledger reads its usage from the upstream bytes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.accounts.account import Account
from link_assistant_router.boundary import openai_error
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.proxy.pipeline import Answer, Outgoing, Proxy
from link_assistant_router.proxy.relay import read_rest, read_usage, relay_events
from link_assistant_router.proxy.sse import StreamTranslator
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.storage import KeyRecord

ANTHROPIC_VERSION = "2023-06-01"


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


async def answer_translated(
    request: web.Request,
    proxy: Proxy,
    key: KeyRecord,
    translated: dict[str, Any],
    *,
    make_stream: Callable[[], StreamTranslator],
    convert: Callable[[dict[str, Any]], dict[str, Any]],
    stream_type: str = "text/event-stream",
    on_error: Callable[[Answer, RequestLog], Awaitable[web.Response]] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> web.StreamResponse:
    """Send a Messages request the router wrote through the account loop (API-key accounts
    first) and answer with its translation: streamed with ``make_stream()``'s translator (as
    ``stream_type``), or whole with ``convert``; an upstream error through ``on_error`` (by
    default in OpenAI's shape). ``headers``: more request headers (such as betas)."""
    entry = request[REQUEST_LOG]
    entry.model = translated["model"]
    stream = translated.get("stream") is True
    body = orjson.dumps(translated)
    outgoing = Outgoing("POST", "/v1/messages", messages_headers(stream) + (headers or []), body)
    answer = await proxy.exchange(
        key, outgoing, entry, session_from=request.headers, prefer=api_key_first
    )
    try:
        if answer.response.status != 200:
            return await (on_error or openai_error_answer)(answer, entry)
        if stream:
            response = web.StreamResponse(
                headers={"content-type": stream_type, "cache-control": "no-cache"}
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
        reply = orjson.dumps(convert(orjson.loads(raw)))
        entry.bytes_out = len(reply)
        return web.Response(body=reply, content_type="application/json")
    finally:
        answer.response.close()


def parse_object(body: bytes | None) -> dict[str, Any]:
    if not body:
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return document


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
