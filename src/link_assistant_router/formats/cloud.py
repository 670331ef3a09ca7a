"""Clients that speak the Bedrock or Vertex formats (Claude Code with ``CLAUDE_CODE_USE_BEDROCK``
or ``CLAUDE_CODE_USE_VERTEX`` and the gateway's base URL), answered through the same accounts.

- Bedrock InvokeModel: ``POST [/bedrock]/model/{modelId}/invoke`` and
  ``.../invoke-with-response-stream`` (and ``/invoke``, ``/invoke-with-response-stream`` with the
  model in the body); CountTokens: ``.../model/{modelId}/count-tokens``. The body is a Messages
  body with ``anthropic_version`` (and ``anthropic_beta``) instead of ``model``; a stream goes
  back as AWS event-stream messages.
- Vertex: ``POST [/vertex][/v1]/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:
  rawPredict`` and ``:streamRawPredict`` (Anthropic SSE back), and ``count-tokens:rawPredict``.

The ``la_sk_`` key comes as ``Authorization: Bearer`` (``ANTHROPIC_AUTH_TOKEN``, the Vertex SDK's
access token) or ``x-api-key``. API-key accounts go first, as for other non-Claude-Code formats.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.errors import InvalidRequest, NotFound, UpstreamUnreachable
from link_assistant_router.formats.aliases import ModelAliases
from link_assistant_router.formats.eventstream import EXCEPTIONS, BedrockStreamTranslator
from link_assistant_router.formats.exchange import (
    TranslatedRoute,
    Translation,
    api_key_first,
    messages_headers,
    upstream_error,
)
from link_assistant_router.proxy.pipeline import Answer, Outgoing, Proxy, parse_object
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.routes import Route

__all__ = [
    "EVENT_STREAM",
    "BedrockCountTokens",
    "BedrockInvoke",
    "CloudRoutes",
    "bedrock_error",
    "bedrock_model",
    "vertex_model",
]

EVENT_STREAM = "application/vnd.amazon.eventstream"
# us.anthropic.claude-sonnet-4-5-20250929-v1:0, an inference profile ARN, or a plain id.
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$")
# What count_tokens accepts of a Messages body (max_tokens, stream, sampling would be refused).
_COUNTED_FIELDS = ("messages", "system", "tools", "tool_choice", "thinking", "mcp_servers")
# The Vertex SDKs put their base URL (Google's ends in /v1, some clients use /v1beta1) before
# /projects/...; /vertex and /vertex_ai are what LLM gateways are commonly given as that base.
_VERTEX_PREFIXES = tuple(
    gateway + version
    for gateway in ("", "/vertex", "/vertex_ai")
    for version in ("", "/v1", "/v1beta1")
)
_VERTEX_PATH = "/projects/{project}/locations/{location}/publishers/anthropic/models/{call}"


def _invoke_body(blob: str) -> dict[str, Any]:
    """The InvokeModel body inside a CountTokens request: base64 (as AWS encodes blobs) or JSON."""
    text = blob.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidRequest("input.invokeModel.body is neither base64 nor JSON") from exc
    return parse_object(text.encode())


def bedrock_model(model_id: str) -> str:
    """A Bedrock model id (or inference profile ARN) -> the Anthropic model id."""
    model_id = model_id.rsplit("/", 1)[-1]  # arn:aws:bedrock:...:inference-profile/<id>
    match = _BEDROCK_ID.match(model_id)
    return match.group("model") if match else model_id


def vertex_model(model: str) -> str:
    """``claude-sonnet-4-5@20250929`` -> ``claude-sonnet-4-5-20250929``."""
    return model.replace("@", "-")


def _without_version(document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The body without the cloud fields, and the betas it asked for."""
    body = dict(document)
    version = body.pop("anthropic_version", None)
    if version is not None and not isinstance(version, str):
        raise InvalidRequest("anthropic_version must be a string")
    betas = body.pop("anthropic_beta", None) or []
    if isinstance(betas, str):
        betas = [betas]
    if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
        raise InvalidRequest("anthropic_beta must be a list of strings")
    return body, betas


def _beta_headers(request: web.Request, betas: list[str]) -> list[tuple[str, str]]:
    given = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",") if b.strip()]
    merged = list(dict.fromkeys(given + betas))
    return [("anthropic-beta", ",".join(merged))] if merged else []


async def bedrock_error(answer: Answer, entry: RequestLog) -> web.Response:
    """An upstream error as Bedrock says it: ``{"message"}`` and ``x-amzn-ErrorType``."""
    response = answer.response
    error_type, message = await upstream_error(answer)
    name = EXCEPTIONS.get(error_type, "internalServerException")
    headers = {"x-amzn-ErrorType": name[0].upper() + name[1:]}
    if "retry-after" in response.headers:
        headers["retry-after"] = response.headers["retry-after"]
    body = orjson.dumps({"message": message})
    entry.bytes_out = len(body)
    return web.Response(
        status=response.status, body=body, content_type="application/json", headers=headers
    )


class _BedrockRoute(TranslatedRoute):
    """A Bedrock route: upstream errors as Bedrock says them."""

    async def error(self, answer: Answer, entry: RequestLog) -> web.Response:
        return await bedrock_error(answer, entry)


class BedrockInvoke(_BedrockRoute):
    """InvokeModel and InvokeModelWithResponseStream: the answer as it is, or its stream as
    event-stream messages."""

    stream_type = EVENT_STREAM

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        model_id = request.match_info.get("model") or document.pop("model", None)
        if not isinstance(model_id, str) or not model_id:
            raise InvalidRequest("the model is missing: put it in the path (/model/{id}/invoke)")
        body, betas = _without_version(document)
        body["model"] = self._aliases.resolve(bedrock_model(model_id))
        body.pop("stream", None)
        if request.path.endswith("-with-response-stream"):
            body["stream"] = True
        return Translation(
            body,
            convert=_as_it_is,
            stream=BedrockStreamTranslator,
            headers=_beta_headers(request, betas),
        )


class BedrockCountTokens(_BedrockRoute):
    """CountTokens for an InvokeModel body: ``{"input": {"invokeModel": {"body": base64 or
    JSON text}}}`` -> ``{"inputTokens": N}``."""

    def translate(self, request: web.Request, document: dict[str, Any]) -> Translation:
        invoke = document.get("input", {})
        invoke = invoke.get("invokeModel") if isinstance(invoke, dict) else None
        blob = invoke.get("body") if isinstance(invoke, dict) else None
        if not isinstance(blob, str):
            raise InvalidRequest("input.invokeModel.body is required (the InvokeModel body)")
        body, betas = _without_version(_invoke_body(blob))
        counted = {name: body[name] for name in _COUNTED_FIELDS if name in body}
        counted["model"] = self._aliases.resolve(bedrock_model(request.match_info["model"]))
        return Translation(
            counted,
            convert=_input_tokens,
            target="/v1/messages/count_tokens",
            headers=_beta_headers(request, betas),
        )


def _as_it_is(message: dict[str, Any]) -> dict[str, Any]:
    return message


def _input_tokens(counted: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"inputTokens": int(counted["input_tokens"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamUnreachable("the upstream's token count was unreadable") from exc


class CloudRoutes:
    def __init__(self, proxy: Proxy, aliases: ModelAliases) -> None:
        self._proxy = proxy
        self._aliases = aliases
        self._invoke = BedrockInvoke(proxy, aliases)
        self._count_tokens = BedrockCountTokens(proxy, aliases)

    def routes(self) -> list[Route]:
        invoke, count_tokens = self._invoke.handle, self._count_tokens.handle
        routes = []
        for prefix in ("", "/bedrock"):
            routes += [
                Route("POST", prefix + "/model/{model}/invoke", invoke, "bedrock"),
                Route(
                    "POST", prefix + "/model/{model}/invoke-with-response-stream", invoke, "bedrock"
                ),
                Route("POST", prefix + "/model/{model}/count-tokens", count_tokens, "bedrock"),
                Route("POST", prefix + "/invoke", invoke, "bedrock"),
                Route("POST", prefix + "/invoke-with-response-stream", invoke, "bedrock"),
            ]
        for prefix in _VERTEX_PREFIXES:
            routes.append(Route("POST", prefix + _VERTEX_PATH, self.vertex, "vertex"))
        return routes

    async def vertex(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].rpartition(":")
        if method not in ("rawPredict", "streamRawPredict") or not model:
            raise NotFound(f"no Vertex method {method!r} here: use rawPredict or streamRawPredict")
        key = await self._proxy.authenticate(request)
        # Not kept in a name here: ``send`` lets go of the body once an answer is chosen.
        return await self._proxy.send(
            request, key, await self._vertex_outgoing(request, model, method), prefer=api_key_first
        )

    async def _vertex_outgoing(self, request: web.Request, model: str, method: str) -> Outgoing:
        """The Messages request a Vertex call stands for."""
        document = parse_object(await self._proxy.read_body(request))
        body, betas = _without_version(document)
        if model == "count-tokens":
            target = "/v1/messages/count_tokens"
            requested = body.get("model")
            if not isinstance(requested, str) or not requested:
                raise InvalidRequest("count-tokens needs the model in the body")
            body["model"] = self._aliases.resolve(vertex_model(requested))
            stream = False
        else:
            target = "/v1/messages"
            body["model"] = self._aliases.resolve(vertex_model(model))
            stream = method == "streamRawPredict" or body.get("stream") is True
            body.pop("stream", None)
            if stream:
                body["stream"] = True
        request[REQUEST_LOG].model = body["model"]
        headers = messages_headers(stream) + _beta_headers(request, betas)
        return Outgoing("POST", target, headers, orjson.dumps(body))
