"""Anthropic Messages answers -> OpenAI Responses ``response`` objects and their output items.
Pure: no I/O.

One item per Claude content block, in Claude's order, except that the text blocks join into one
``message`` (where the first text was): ``thinking`` and ``redacted_thinking`` become
``reasoning`` items (summary text when the request asked for a summary, the block sealed as
``encrypted_content`` when it included ``reasoning.encrypted_content``), ``tool_use`` becomes a
``function_call`` (with the ``namespace`` the client declared) or a ``custom_tool_call``, and
Anthropic's server-side web search becomes a ``web_search_call`` with its sources, its citations
``url_citation`` annotations on the text. ``openai_responses_stream`` builds the same items from
a stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from link_assistant_router.formats.openai_common import prompt_tokens
from link_assistant_router.formats.openai_responses import ResponsesRequest
from link_assistant_router.formats.openai_tools import ToolRef, custom_input

__all__ = [
    "call_item",
    "message_item",
    "message_to_response",
    "reasoning_item",
    "request_echo",
    "response_object",
    "response_usage",
    "search_result",
    "status_of",
    "text_part",
    "tool_call_item",
    "url_citation",
    "web_search_item",
]

_ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "reasoning",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "user",
)


def response_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> Responses usage: input tokens include cache writes and reads."""
    prompt, cached = prompt_tokens(usage)
    output = usage.get("output_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output,
    }


def response_object(
    *,
    response_id: str,
    created: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    stop_reason: str | None = None,
    error: dict[str, Any] | None = None,
    echo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``response`` object; ``echo``: the request's settings it repeats (``request_echo``)."""
    incomplete = {"reason": "max_output_tokens"} if stop_reason == "max_tokens" else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        **(echo or {}),
    }


def request_echo(document: dict[str, Any]) -> dict[str, Any]:
    """The request settings a ``response`` object repeats, as the client sent them."""
    echo = {name: document[name] for name in _ECHOED if document.get(name) is not None}
    echo.setdefault("tools", [])
    return echo


def status_of(stop_reason: str | None) -> str:
    return "incomplete" if stop_reason == "max_tokens" else "completed"


def message_to_response(
    message: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created: int,
    echo: dict[str, Any] | None = None,
    request: ResponsesRequest | None = None,
) -> dict[str, Any]:
    """An Anthropic Messages answer -> a Responses ``response``; ``model`` as the client asked,
    ``request`` the translated request (its tools and how thinking goes back)."""
    shape = request or ResponsesRequest({})
    suffix = response_id[5:]
    output: list[dict[str, Any]] = []
    texts: list[str] = []
    annotations: list[dict[str, Any]] = []
    searches: dict[str, dict[str, Any]] = {}
    message_at = -1
    for number, block in enumerate(message.get("content") or ()):
        kind = block.get("type")
        if kind == "text":
            if message_at < 0:
                message_at = len(output)
            start = sum(map(len, texts))
            texts.append(block.get("text") or "")
            end = start + len(texts[-1])
            annotations += [
                url_citation(citation, start, end) for citation in block.get("citations") or ()
            ]
        elif kind in ("thinking", "redacted_thinking"):
            output.append(reasoning_item(f"rs_{suffix}_{number}", block, shape))
        elif kind == "tool_use":
            ref = shape.tools.ref(block.get("name") or "")
            call_id, tool_input = block.get("id") or "", block.get("input") or {}
            output.append(tool_call_item(f"fc_{suffix}_{number}", call_id, ref, tool_input))
        elif kind == "server_tool_use" and block.get("name") == "web_search":
            query = (block.get("input") or {}).get("query")
            search = web_search_item(f"ws_{suffix}_{number}", query, "completed")
            searches[block.get("id") or ""] = search
            output.append(search)
        elif kind == "web_search_tool_result":
            found = searches.get(block.get("tool_use_id") or "")
            if found is not None:
                search_result(found, block.get("content"))
    if texts:
        text_item = message_item(f"msg_{suffix}", "".join(texts), "completed", annotations)
        output.insert(max(message_at, 0), text_item)
    stop_reason = message.get("stop_reason")
    return response_object(
        response_id=response_id,
        created=created,
        model=model,
        status=status_of(stop_reason),
        output=output,
        usage=response_usage(message.get("usage") or {}),
        stop_reason=stop_reason,
        echo=echo,
    )


def message_item(
    item_id: str, text: str, status: str, annotations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    content = [text_part(text, annotations)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or []}


def url_citation(citation: Any, start: int, end: int) -> dict[str, Any]:
    """An Anthropic web search citation on text from ``start`` to ``end`` -> OpenAI's."""
    cited = citation if isinstance(citation, dict) else {}
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "url": str(cited.get("url") or ""),
        "title": str(cited.get("title") or ""),
    }


def reasoning_item(item_id: str, block: dict[str, Any], shape: ResponsesRequest) -> dict[str, Any]:
    """A thinking or redacted thinking block -> a ``reasoning`` item."""
    text = block.get("thinking") if block.get("type") == "thinking" else None
    summary = [{"type": "summary_text", "text": text}] if shape.summary and text else []
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
    if shape.seal is not None:
        item["encrypted_content"] = shape.seal.seal(block)
    return item


def tool_call_item(item_id: str, call_id: str, ref: ToolRef, tool_input: Any) -> dict[str, Any]:
    """A Claude tool call -> a ``function_call`` or ``custom_tool_call`` item, completed."""
    if ref.kind == "custom":
        return call_item(item_id, call_id, ref, custom_input(tool_input), "completed")
    return call_item(item_id, call_id, ref, orjson.dumps(tool_input).decode(), "completed")


def call_item(
    item_id: str, call_id: str, ref: ToolRef, payload: str, status: str
) -> dict[str, Any]:
    """A ``function_call`` (``payload``: the arguments' JSON) or, for a custom tool, a
    ``custom_tool_call`` item (``payload``: its input), with the namespace the tool is in."""
    custom = ref.kind == "custom"
    item = {
        "id": item_id,
        "type": "custom_tool_call" if custom else "function_call",
        "status": status,
        "call_id": call_id,
        "name": ref.name,
        "input" if custom else "arguments": payload,
    }
    if ref.namespace is not None:
        item["namespace"] = ref.namespace
    return item


def web_search_item(item_id: str, query: Any, status: str) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "search"}
    if isinstance(query, str):
        action["query"] = query
    return {"id": item_id, "type": "web_search_call", "status": status, "action": action}


def search_result(item: dict[str, Any], content: Any) -> None:
    """Anthropic's search results (or its error) onto a ``web_search_call`` item."""
    if isinstance(content, list):
        item["action"]["sources"] = [
            {"type": "url", "url": result["url"]}
            for result in content
            if isinstance(result, dict) and isinstance(result.get("url"), str)
        ]
    else:
        item["status"] = "failed"
