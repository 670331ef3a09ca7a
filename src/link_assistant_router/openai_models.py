"""``GET /v1/models`` for both kinds of client.

With an ``anthropic-version`` header (what the Anthropic SDKs and Claude Code send) the request
is proxied like any other. Without one it is an OpenAI client: the answer is OpenAI's list shape,
the upstream's Claude models followed by the alias names the OpenAI routes accept.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.boundary import openai_error
from link_assistant_router.models import ModelAliases
from link_assistant_router.proxy.pipeline import Outgoing, Proxy
from link_assistant_router.requestlog import REQUEST_LOG

ANTHROPIC_VERSION = "2023-06-01"


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
