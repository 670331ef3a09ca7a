"""OpenAI Responses requests -> Anthropic Messages requests. Pure: no I/O.

``responses_to_messages`` turns a ``POST /v1/responses`` body into a Messages request and
refuses, naming the field, what cannot work here (stored responses, structured output). Tools of
every kind a client declares, in ``tools`` or in ``additional_tools`` input items, go through
``openai_tools``. ``reasoning`` items the router sealed for the client
(``include: ["reasoning.encrypted_content"]``) become Claude's thinking blocks again; others
are left out. The answer's way back is ``openai_responses_output`` and
``openai_responses_stream``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from link_assistant_router.formats.openai_common import (
    OpenAIRequestError,
    Rules,
    add_turn,
    claude_tool_choice,
    content_blocks,
    copy_sampling,
    copy_stream,
    default_max_tokens,
    image_block,
    shown,
    text_block,
    think,
    tool_use,
    unsupported,
)
from link_assistant_router.formats.openai_tools import ToolBook, ToolReader, custom_call_input
from link_assistant_router.formats.sealing import ReasoningSeal

__all__ = [
    "ENCRYPTED_REASONING",
    "ResponsesRequest",
    "responses_to_messages",
]

_UNSUPPORTED = {
    "previous_response_id": "previous_response_id: this router stores no responses; "
    "send the whole conversation in input",
    "conversation": "conversation: this router stores no conversations; send them in input",
    "prompt": "prompt: stored prompt templates are not supported",
    "background": "background: responses run in the foreground here",
}
# Earlier output the client gives back that cannot go back to Claude: reasoning it was not given
# sealed, and web searches (Anthropic's results cannot be rebuilt from them).
_DROPPED_ITEMS = frozenset({"reasoning", "web_search_call"})
_SUMMARIES = frozenset({"auto", "concise", "detailed"})
ENCRYPTED_REASONING = "reasoning.encrypted_content"


@dataclass
class ResponsesRequest:
    """A Responses request as a Messages request, and what its answer needs to go back."""

    body: dict[str, Any]
    tools: ToolBook = field(default_factory=ToolBook)
    summary: bool = False
    """Thinking goes back as ``reasoning`` items' summary text."""
    seal: ReasoningSeal | None = None
    """Thinking goes back sealed, as ``reasoning`` items' ``encrypted_content``."""


def responses_to_messages(
    document: Any, *, model: str, rules: Rules | None = None
) -> ResponsesRequest:
    """A Responses request body (parsed JSON) -> an Anthropic Messages request for ``model``."""
    rules = rules or Rules()
    if not isinstance(document, dict):
        raise OpenAIRequestError("the request body must be a JSON object")
    _refuse_unsupported(document)
    system: list[str] = []
    instructions = document.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise OpenAIRequestError("instructions must be a string", "instructions")
        if instructions:
            system.append(instructions)
    reader = ToolReader(ToolBook(), rules.unsupported_tools)
    reader.read(document.get("tools"), "tools")
    items = document.get("input")
    if isinstance(items, list):
        for number, item in enumerate(items):
            if isinstance(item, dict) and item.get("type") == "additional_tools":
                reader.read(item.get("tools"), f"input[{number}].tools")
    turns = _Input(reader.book, rules.seal).turns(items, system)
    body: dict[str, Any] = {
        "model": model,
        "messages": turns,
        "max_tokens": _max_tokens(document, rules, model),
    }
    if system:
        body["system"] = "\n\n".join(system)
    copy_sampling({k: document.get(k) for k in ("temperature", "top_p")}, body)
    copy_stream(document, body)
    user = document.get("user") or document.get("safety_identifier")
    if user is not None:
        if not isinstance(user, str):
            raise OpenAIRequestError("user must be a string", "user")
        body["metadata"] = {"user_id": user}
    if reader.tools:
        body["tools"] = reader.tools
    choice = _tool_choice(document, reader)
    if choice is not None:
        body["tool_choice"] = choice
    reasoning = _reasoning(document.get("reasoning"))
    think(reasoning.get("effort"), body, rules, "reasoning.effort")
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    include = document.get("include")
    sealed = isinstance(include, list) and ENCRYPTED_REASONING in include
    return ResponsesRequest(
        body, reader.book, summary in _SUMMARIES, rules.seal if sealed else None
    )


def _refuse_unsupported(document: dict[str, Any]) -> None:
    for name, message in _UNSUPPORTED.items():
        if document.get(name) not in (None, False):
            raise OpenAIRequestError(message, name)
    if document.get("store") is True:
        raise OpenAIRequestError(
            "store: this router stores no responses; send store false", "store"
        )
    text = document.get("text")
    if text is not None:
        form = text.get("format") if isinstance(text, dict) else None
        if form is not None and (not isinstance(form, dict) or form.get("type") != "text"):
            raise OpenAIRequestError("text.format: only type text is supported", "text.format")
    n = document.get("top_logprobs")
    if n not in (None, 0):
        raise OpenAIRequestError("top_logprobs are not available from Claude", "top_logprobs")


def _max_tokens(document: dict[str, Any], rules: Rules, model: str) -> int:
    value = document.get("max_output_tokens")
    if value is None:
        return default_max_tokens(rules, model)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OpenAIRequestError(
            "max_output_tokens must be a positive integer", "max_output_tokens"
        )
    return value


def _reasoning(reasoning: Any) -> dict[str, Any]:
    if reasoning is None:
        return {}
    if not isinstance(reasoning, dict):
        raise OpenAIRequestError("reasoning must be an object", "reasoning")
    return reasoning


class _Input:
    """The ``input`` items -> Claude's turns (system texts go to ``system``)."""

    def __init__(self, book: ToolBook, seal: ReasoningSeal | None) -> None:
        self._book = book
        self._seal = seal

    def turns(self, items: Any, system: list[str]) -> list[dict[str, Any]]:
        if isinstance(items, str):
            if not items:
                raise OpenAIRequestError("input must not be empty", "input")
            return [{"role": "user", "content": [{"type": "text", "text": items}]}]
        if not isinstance(items, list) or not items:
            raise OpenAIRequestError("input must be a string or a non-empty list of items", "input")
        turns: list[dict[str, Any]] = []
        for number, item in enumerate(items):
            where = f"input[{number}]"
            if not isinstance(item, dict):
                raise OpenAIRequestError(f"{where} must be an object", where)
            self._item(item, where, turns, system)
        if not turns:
            raise OpenAIRequestError("input needs at least one user message", "input")
        return turns

    def _item(
        self, item: dict[str, Any], where: str, turns: list[dict[str, Any]], system: list[str]
    ) -> None:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                text = _message_text(item.get("content"), where)
                if text:
                    system.append(text)
            elif role in ("user", "assistant"):
                read = _user_part_block if role == "user" else _part_block
                add_turn(turns, role, content_blocks(item.get("content"), where, read))
            else:
                raise OpenAIRequestError(f"{where}.role {shown(role)} is not supported", where)
        elif kind in ("function_call", "custom_tool_call"):
            add_turn(turns, "assistant", [self._call(item, kind, where)])
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            if not isinstance(output, str):
                output = _message_text(output, where)
            block = {"type": "tool_result", "tool_use_id": _call_id(item, where), "content": output}
            add_turn(turns, "user", [block])
        elif kind == "reasoning" and item.get("encrypted_content") is not None:
            if self._seal is None:
                raise OpenAIRequestError(
                    f"{where}.encrypted_content: this router gives no reasoning back",
                    f"{where}.encrypted_content",
                )
            block = self._seal.open(item["encrypted_content"], f"{where}.encrypted_content")
            add_turn(turns, "assistant", [block])
        elif kind not in _DROPPED_ITEMS and kind != "additional_tools":
            raise OpenAIRequestError(
                f"{where}.type {shown(kind)} is not supported", f"{where}.type"
            )

    def _call(self, item: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
        """A function or custom tool call the client gives back -> a Claude tool_use."""
        call_id = _call_id(item, where)
        name, namespace = item.get("name"), item.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise OpenAIRequestError(f"{where}.namespace must be a string", f"{where}.namespace")
        if kind == "function_call":
            block = tool_use(call_id, {"name": name, "arguments": item.get("arguments")}, where)
        else:
            if not isinstance(name, str) or not name:
                raise OpenAIRequestError(f"{where}.name is required", f"{where}.name")
            tool_input = custom_call_input(item.get("input"), f"{where}.input")
            block = {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}
        block["name"] = self._book.claude_name(block["name"], namespace)
        return block


def _call_id(item: dict[str, Any], where: str) -> str:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise OpenAIRequestError(f"{where}.call_id is required", f"{where}.call_id")
    return call_id


def _part_block(part: dict[str, Any], kind: str, at: str) -> dict[str, Any] | None:
    """A text part, of any role's message."""
    if kind in ("input_text", "output_text", "refusal"):
        return text_block(part.get("refusal" if kind == "refusal" else "text"), f"{at}.text")
    unsupported(kind, at)


def _user_part_block(part: dict[str, Any], kind: str, at: str) -> dict[str, Any] | None:
    """A part of a user's message: text, or an image."""
    if kind == "input_image":
        if part.get("file_id") is not None:
            raise OpenAIRequestError(f"{at}.file_id: uploaded files are not supported", at)
        return image_block(part.get("image_url"), f"{at}.image_url")
    return _part_block(part, kind, at)


def _message_text(content: Any, where: str) -> str:
    blocks = content_blocks(content, where, _part_block)
    return "".join(block["text"] for block in blocks)


def _tool_choice(document: dict[str, Any], reader: ToolReader) -> dict[str, Any] | None:
    choice = document.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") not in ("function", "custom"):
            raise OpenAIRequestError(
                "tool_choice must be auto, none, required, a function or a custom tool",
                "tool_choice",
            )
        name, namespace = choice.get("name"), choice.get("namespace")
        if isinstance(name, str) and (namespace is None or isinstance(namespace, str)):
            choice = {"name": reader.book.claude_name(name, namespace)}
    return claude_tool_choice(
        choice, document.get("parallel_tool_calls"), reader.tools, "tool_choice"
    )
