"""What OpenAI's two request formats (Chat Completions, Responses) share on their way to Claude:
the request error that names the field, and the pieces of a Messages request both build the
same way (sampling, thinking, turns, images, function tools and calls, tool_choice). Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import orjson

from link_assistant_router.errors import InvalidRequest
from link_assistant_router.formats.families import Families
from link_assistant_router.formats.sealing import ReasoningSeal

__all__ = [
    "ADAPTIVE_EFFORTS",
    "EFFORTS",
    "THINKING_BUDGETS",
    "OpenAIRequestError",
    "Rules",
    "add_turn",
    "claude_tool_choice",
    "content_blocks",
    "copy_sampling",
    "copy_stream",
    "default_max_tokens",
    "function_tool",
    "image_block",
    "prompt_tokens",
    "requested_model",
    "shown",
    "text_block",
    "think",
    "tool_use",
    "unsupported",
]

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
"""Every reasoning effort OpenAI documents."""
THINKING_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
"""Thinking budgets of models that take one, at most half the family's maximum output."""
ADAPTIVE_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
"""``output_config.effort`` of models whose thinking is adaptive."""
_THINKING_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


class OpenAIRequestError(InvalidRequest):
    """An OpenAI request the router cannot translate; ``param`` names the field (or None)."""


@dataclass(frozen=True, slots=True)
class Rules:
    """What a translation needs besides the request: the models' families, the seal of
    reasoning given back to clients (None: reasoning is not given back), and what a built-in
    tool Claude cannot honour does (``drop`` or ``refuse``)."""

    families: Families = field(default_factory=Families)
    seal: ReasoningSeal | None = None
    unsupported_tools: str = "drop"


def default_max_tokens(rules: Rules, model: str) -> int:
    """The output limit of a request that sets none: the model family's maximum."""
    return rules.families.of(model).max_output


def requested_model(document: dict[str, Any]) -> str:
    """The model the client asked for (its name is given back in the answer)."""
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise OpenAIRequestError("model is required (a string)", "model")
    return model


def copy_stream(document: dict[str, Any], body: dict[str, Any]) -> None:
    """The request's ``stream`` flag, checked, onto the Messages ``body``."""
    stream = document.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise OpenAIRequestError("stream must be true or false", "stream")
        body["stream"] = stream


def shown(value: Any) -> str:
    """A value for an error message: short strings quoted, anything else by its JSON type."""
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return {dict: "an object", list: "a list", str: "a long string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def copy_sampling(document: dict[str, Any], body: dict[str, Any]) -> None:
    """``temperature`` (OpenAI's 0-2 capped at Claude's 1), ``top_p`` and ``stop`` onto the
    Messages ``body``, checked."""
    temperature = document.get("temperature")
    if temperature is not None:
        if not _is_number(temperature, 0, 2):
            raise OpenAIRequestError("temperature must be a number from 0 to 2", "temperature")
        body["temperature"] = min(float(temperature), 1.0)  # Claude's scale ends at 1
    top_p = document.get("top_p")
    if top_p is not None:
        if not _is_number(top_p, 0, 1):
            raise OpenAIRequestError("top_p must be a number from 0 to 1", "top_p")
        body["top_p"] = float(top_p)
    stop = document.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise OpenAIRequestError("stop must be a string or a list of strings", "stop")
        stops = [s for s in stops if s]  # an empty stop sequence stops nothing
        if stops:
            body["stop_sequences"] = stops


def _is_number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def think(effort: Any, body: dict[str, Any], rules: Rules, param: str) -> None:
    """Claude's thinking for the reasoning ``effort`` the client set at ``param``, and the
    request fitted to what its model takes (``families``).

    A budget that grows with the effort, or adaptive thinking at that effort (the Claude 5
    models take only that); ``none`` turns thinking off, or down to the lowest effort on a
    model whose thinking cannot be turned off. A request that continues a tool loop whose last
    assistant turn has no thinking block (every Chat Completions client, Responses clients that
    do not give reasoning back) is sent with thinking off, as Anthropic's own error for such a
    request advises. Sampling parameters are left out for models that refuse them (they sample
    only at their defaults); a forced tool is refused for models that refuse it, and whenever
    Claude thinks.
    """
    if effort is not None and effort not in EFFORTS:
        raise OpenAIRequestError(f"{param} must be one of {', '.join(EFFORTS)}", param)
    model = body["model"]
    family = rules.families.of(model)
    if not family.sampling:
        body.pop("temperature", None)
        body.pop("top_p", None)
    forced = body.get("tool_choice", {}).get("type") in ("any", "tool")
    if forced and not family.forced_tools:
        raise OpenAIRequestError(
            f"{model} cannot be made to call a tool: use tool_choice auto or none", "tool_choice"
        )
    off = effort == "none" or _continues_without_thinking(body["messages"])
    if off and family.off is None:
        if effort == "none":
            body["output_config"] = {"effort": "low"}  # the least thinking it allows
        return
    if off:
        if family.adaptive or effort not in (None, "none"):
            body["thinking"] = {"type": family.off}  # adaptive models think unless told not to
        return
    if effort is None:
        return
    if forced:
        raise OpenAIRequestError(
            "Claude cannot be made to call a tool while it thinks: "
            f"use tool_choice auto or none with {param}",
            "tool_choice",
        )
    if family.adaptive:
        body["thinking"] = {"type": "adaptive"}
        body["output_config"] = {"effort": ADAPTIVE_EFFORTS[effort]}
    else:
        budget = min(THINKING_BUDGETS[effort], family.max_output // 2)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:  # the budget is part of max_tokens: keep room to answer
            body["max_tokens"] = min(family.max_output, body["max_tokens"] + budget)
    body.pop("temperature", None)  # Claude thinks only at its default sampling
    body.pop("top_p", None)


def _continues_without_thinking(turns: list[dict[str, Any]]) -> bool:
    """Whether the request answers tool calls of an assistant turn that has no thinking block
    first: with thinking on, Anthropic refuses it."""
    if len(turns) < 2 or turns[-1]["role"] != "user" or turns[-2]["role"] != "assistant":
        return False
    answers = any(block.get("type") == "tool_result" for block in turns[-1]["content"])
    calls = turns[-2]["content"]
    called = any(block.get("type") == "tool_use" for block in calls)
    return answers and called and calls[0].get("type") not in _THINKING_BLOCKS


def add_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add ``blocks`` as a ``role`` turn, merged into the last turn when it has that role
    (Claude alternates roles)."""
    if not blocks:
        return
    if not turns or turns[-1]["role"] != role:
        turns.append({"role": role, "content": blocks})
        return
    content = turns[-1]["content"]
    if blocks[0]["type"] == "tool_result" and content[-1]["type"] != "tool_result":
        # Claude wants a turn's tool results before its text: a late result moves up.
        at = next(i for i, block in enumerate(content) if block["type"] != "tool_result")
        content[at:at] = blocks
    else:
        content.extend(blocks)


def image_block(url: Any, param: str) -> dict[str, Any]:
    """An image URL (data: or http(s)) -> a Claude image block; ``param``: the URL's field."""
    if not isinstance(url, str):
        raise OpenAIRequestError(f"{param} must be a string", param)
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not media_type.startswith("image/"):
            raise OpenAIRequestError(
                f"{param}: a data URL must read data:image/<type>;base64,<data>", param
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise OpenAIRequestError(f"{param} must be an http(s) or data: URL", param)


def tool_use(call_id: str, function: Any, where: str) -> dict[str, Any]:
    """A function call (``name``, ``arguments`` as a JSON string) at ``where`` -> a Claude
    ``tool_use`` block with id ``call_id``."""
    if not isinstance(function, dict):
        raise OpenAIRequestError(f"{where} must be an object", where)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise OpenAIRequestError(f"{where}.name is required", f"{where}.name")
    arguments = function.get("arguments")
    if arguments is None or arguments == "":
        tool_input: Any = {}
    elif not isinstance(arguments, str):
        raise OpenAIRequestError(f"{where}.arguments must be a JSON string", f"{where}.arguments")
    else:
        try:
            tool_input = orjson.loads(arguments)
        except orjson.JSONDecodeError as exc:
            raise OpenAIRequestError(
                f"{where}.arguments is not valid JSON", f"{where}.arguments"
            ) from exc
        if not isinstance(tool_input, dict):
            raise OpenAIRequestError(
                f"{where}.arguments must encode a JSON object", f"{where}.arguments"
            )
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def function_tool(function: Any, where: str) -> dict[str, Any]:
    """A function's declaration (``name``, ``description``, ``parameters``) at ``where`` ->
    a Claude tool."""
    if not isinstance(function, dict):
        raise OpenAIRequestError(f"{where} must be an object", where)
    name, description = function.get("name"), function.get("description")
    if not isinstance(name, str) or not name:
        raise OpenAIRequestError(f"{where}.name is required", f"{where}.name")
    schema = function.get("parameters")
    if schema is not None and not isinstance(schema, dict):
        raise OpenAIRequestError(f"{where}.parameters must be a JSON schema object", where)
    tool: dict[str, Any] = {"name": name, "input_schema": schema or _EMPTY_SCHEMA}
    if description is not None:
        if not isinstance(description, str):
            raise OpenAIRequestError(f"{where}.description must be a string", where)
        tool["description"] = description
    return tool


def claude_tool_choice(
    choice: Any, parallel: Any, tools: list[dict[str, Any]], param: str
) -> dict[str, Any] | None:
    """OpenAI's ``auto``, ``none``, ``required`` or ``{"name": ...}`` (read from ``param``) and
    ``parallel_tool_calls`` -> Claude's ``tool_choice``; None where Claude's default is the same."""
    if parallel is not None and not isinstance(parallel, bool):
        raise OpenAIRequestError("parallel_tool_calls must be true or false", "parallel_tool_calls")
    if choice is None or choice == "auto":
        result = {"type": "auto"}
    elif choice == "none":
        result = {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict):
        name = choice.get("name")
        if not isinstance(name, str) or name not in {tool["name"] for tool in tools}:
            raise OpenAIRequestError(f"{param} must name one of the functions in tools", param)
        result = {"type": "tool", "name": name}
    else:
        raise OpenAIRequestError(f"{param} must be auto, none, required or a function", param)
    if not tools:  # Claude refuses a tool_choice without tools
        if result["type"] == "any":
            raise OpenAIRequestError(f"{param} requires a tool call but no tools are given", param)
        return None
    if parallel is False and result["type"] != "none":
        return {**result, "disable_parallel_tool_use": True}
    return None if choice is None else result


def content_blocks(
    content: Any,
    where: str,
    part_block: Callable[[dict[str, Any], str, str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """A message's ``content`` at ``where`` (a string, or a list of typed parts) -> Claude
    blocks. ``part_block(part, its type, its path)`` turns one part into a block (None: no
    block), or refuses it; a part that is not an object has no type."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise OpenAIRequestError(f"{where}.content must be a string or a list", f"{where}.content")
    blocks = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            unsupported(kind, at)
        block = part_block(part, kind, at)
        if block is not None:
            blocks.append(block)
    return blocks


def text_block(text: Any, param: str) -> dict[str, Any] | None:
    """A text part's text (at ``param``) -> a Claude text block; None when it is empty."""
    if not isinstance(text, str):
        raise OpenAIRequestError(f"{param} must be a string", param)
    return {"type": "text", "text": text} if text else None


def unsupported(kind: Any, at: str) -> NoReturn:
    """Refuse the part at ``at``: its type is not one this format takes there."""
    raise OpenAIRequestError(f"{at}.type {shown(kind)} is not supported", f"{at}.type")


def prompt_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """Anthropic usage -> OpenAI's prompt tokens (input, cache writes and cache reads) and the
    cached (read) part of them."""
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0)
    return prompt + cached, cached
