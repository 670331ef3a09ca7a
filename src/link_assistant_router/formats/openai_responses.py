"""OpenAI Responses <-> Anthropic Messages: requests, answers and streams. Pure: no I/O.

``responses_to_messages`` turns a ``POST /v1/responses`` body into a Messages request and
refuses, naming the field, what cannot work here (stored responses, built-in tools, structured
output). ``message_to_response`` turns a Messages answer into a ``response`` object.
``ResponsesStreamTranslator`` turns a Messages event stream into Responses events, each as soon
as the upstream event it comes from is complete. Thinking is not shown.
"""

from __future__ import annotations

from typing import Any

import orjson

from link_assistant_router.formats.openai_common import (
    DEFAULT_MAX_TOKENS,
    OpenAIRequestError,
    add_turn,
    claude_tool_choice,
    content_blocks,
    copy_sampling,
    copy_stream,
    function_tool,
    image_block,
    prompt_tokens,
    shown,
    text_block,
    think,
    tool_use,
    unsupported,
)
from link_assistant_router.proxy.sse import EventTranslator, event_object

__all__ = [
    "ResponsesStreamTranslator",
    "message_to_response",
    "request_echo",
    "response_object",
    "response_usage",
    "responses_to_messages",
]

_UNSUPPORTED = {
    "previous_response_id": "previous_response_id: this router stores no responses; "
    "send the whole conversation in input",
    "conversation": "conversation: this router stores no conversations; send them in input",
    "prompt": "prompt: stored prompt templates are not supported",
    "background": "background: responses run in the foreground here",
}
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
_DROPPED_ITEMS = frozenset({"reasoning"})  # earlier reasoning cannot be given back to Claude


def responses_to_messages(document: Any, *, model: str) -> dict[str, Any]:
    """A Responses request body (parsed JSON) -> an Anthropic Messages body for ``model``."""
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
    turns = _input_turns(document.get("input"), system)
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": _max_tokens(document)}
    if system:
        body["system"] = "\n\n".join(system)
    copy_sampling({k: document.get(k) for k in ("temperature", "top_p")}, body)
    copy_stream(document, body)
    user = document.get("user") or document.get("safety_identifier")
    if user is not None:
        if not isinstance(user, str):
            raise OpenAIRequestError("user must be a string", "user")
        body["metadata"] = {"user_id": user}
    tools = _tools(document.get("tools"))
    if tools:
        body["tools"] = tools
    choice = _tool_choice(document, tools)
    if choice is not None:
        body["tool_choice"] = choice
    think(_effort(document.get("reasoning")), body, "reasoning.effort")
    return body


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


def _max_tokens(document: dict[str, Any]) -> int:
    value = document.get("max_output_tokens")
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OpenAIRequestError(
            "max_output_tokens must be a positive integer", "max_output_tokens"
        )
    return value


def _effort(reasoning: Any) -> Any:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise OpenAIRequestError("reasoning must be an object", "reasoning")
    return reasoning.get("effort")


def _input_turns(items: Any, system: list[str]) -> list[dict[str, Any]]:
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
        elif kind == "function_call":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise OpenAIRequestError(f"{where}.call_id is required", f"{where}.call_id")
            function = {"name": item.get("name"), "arguments": item.get("arguments")}
            add_turn(turns, "assistant", [tool_use(call_id, function, where)])
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise OpenAIRequestError(f"{where}.call_id is required", f"{where}.call_id")
            output = item.get("output")
            if not isinstance(output, str):
                output = _message_text(output, where)
            block = {"type": "tool_result", "tool_use_id": call_id, "content": output}
            add_turn(turns, "user", [block])
        elif kind not in _DROPPED_ITEMS:
            raise OpenAIRequestError(
                f"{where}.type {shown(kind)} is not supported", f"{where}.type"
            )
    if not turns:
        raise OpenAIRequestError("input needs at least one user message", "input")
    return turns


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


def _tools(listed: Any) -> list[dict[str, Any]]:
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise OpenAIRequestError("tools must be a list", "tools")
    tools = []
    for number, entry in enumerate(listed):
        at = f"tools[{number}]"
        if not isinstance(entry, dict) or entry.get("type") != "function":
            kind = entry.get("type") if isinstance(entry, dict) else None
            raise OpenAIRequestError(
                f"{at}: only function tools are supported (not {shown(kind)})", f"{at}.type"
            )
        tools.append(function_tool(entry, at))
    return tools


def _tool_choice(document: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = document.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") != "function":
        raise OpenAIRequestError(
            "tool_choice must be auto, none, required or a function", "tool_choice"
        )
    return claude_tool_choice(choice, document.get("parallel_tool_calls"), tools, "tool_choice")


# --- answers -------------------------------------------------------------------------------------


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


def _status(stop_reason: str | None) -> str:
    return "incomplete" if stop_reason == "max_tokens" else "completed"


def message_to_response(
    message: dict[str, Any],
    *,
    model: str,
    response_id: str,
    created: int,
    echo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Anthropic Messages answer -> a Responses ``response``; ``model`` as the client asked."""
    output: list[dict[str, Any]] = []
    texts: list[str] = []
    for number, block in enumerate(message.get("content") or ()):
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            output.append(
                _function_call(
                    f"fc_{response_id[5:]}_{number}",
                    block.get("id") or "",
                    block.get("name") or "",
                    orjson.dumps(block.get("input") or {}).decode(),
                    "completed",
                )
            )
    if texts:
        output.insert(0, _message_item(f"msg_{response_id[5:]}", "".join(texts), "completed"))
    stop_reason = message.get("stop_reason")
    return response_object(
        response_id=response_id,
        created=created,
        model=model,
        status=_status(stop_reason),
        output=output,
        usage=response_usage(message.get("usage") or {}),
        stop_reason=stop_reason,
        echo=echo,
    )


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [_text_part(text)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _function_call(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


# --- streams -------------------------------------------------------------------------------------


class _Item:
    """One output item being streamed: a message (text) or a function call."""

    __slots__ = ("call_id", "item_id", "kind", "name", "output_index", "parts")

    def __init__(self, kind: str, item_id: str, output_index: int) -> None:
        self.kind = kind
        self.item_id = item_id
        self.output_index = output_index
        self.parts: list[str] = []
        self.call_id = ""
        self.name = ""


class ResponsesStreamTranslator(EventTranslator):
    """Anthropic SSE bytes in, Responses SSE events out (``event: <type>`` + ``data:``).

    ``feed`` takes any slice of the upstream body; ``close`` at EOF ends the stream. Order:
    ``response.created``, ``response.in_progress``; per text or tool block its
    ``output_item.added`` (and ``content_part.added``), deltas, ``...done`` events; then
    ``response.completed`` (or ``response.incomplete``) with the whole response and usage. An
    upstream error ends the stream with ``response.failed``.
    """

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        created: int,
        echo: dict[str, Any] | None = None,
    ) -> None:
        self._model = model
        self._echo = echo
        self._id = response_id
        self._created = created
        super().__init__()
        self._sequence = 0
        self._items: dict[int, _Item] = {}  # Anthropic block index -> item
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._next_output = 0
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None

    def _end(self) -> bytes:
        """The upstream stopped without message_stop."""
        return self._failed({"code": "server_error", "message": "the upstream stream ended early"})

    def _emit(self, kind: str, fields: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            response_id=self._id,
            created=self._created,
            model=self._model,
            status=status,
            output=list(self._output),
            usage=extra.get("usage"),
            stop_reason=extra.get("stop_reason"),
            error=extra.get("error"),
            echo=self._echo,
        )

    def _event(self, raw: bytes) -> bytes:
        if self._done or not raw:
            return b""
        event = event_object(raw)
        if event is None:
            return b""
        try:
            kind = event.get("type")
            if kind == "content_block_delta":
                return self._delta(event["index"], event["delta"])
            if kind == "content_block_start":
                return self._block_start(event["index"], event["content_block"])
            if kind == "content_block_stop":
                return self._block_stop(event["index"])
            if kind == "message_start":
                self._usage = dict(event["message"].get("usage") or {})
                response = self._response("in_progress")
                return self._emit("response.created", {"response": response}) + self._emit(
                    "response.in_progress", {"response": response}
                )
            if kind == "message_delta":
                usage = event.get("usage") or {}
                self._usage.update((k, v) for k, v in usage.items() if v is not None)
                self._stop_reason = event["delta"].get("stop_reason")
                return b""
            if kind == "message_stop":
                self._done = True
                status = _status(self._stop_reason)
                response = self._response(
                    status, usage=response_usage(self._usage), stop_reason=self._stop_reason
                )
                return self._emit(f"response.{status}", {"response": response})
            if kind == "error":
                error = event.get("error")
                if not isinstance(error, dict):
                    error = {}
                return self._failed(
                    {
                        "code": str(error.get("type") or "server_error"),
                        "message": str(error.get("message") or "the upstream stream failed"),
                    }
                )
        except (KeyError, TypeError, AttributeError):
            pass  # an event not in the documented shape
        return b""  # ping, and what later API versions add

    def _failed(self, error: dict[str, Any]) -> bytes:
        self._done = True
        return self._emit("response.failed", {"response": self._response("failed", error=error)})

    def _block_start(self, index: int, block: dict[str, Any]) -> bytes:
        kind = block["type"]
        number = self._next_output
        if kind == "text":
            item = _Item("message", f"msg_{self._id[5:]}_{index}", number)
            added = _message_item(item.item_id, "", "in_progress")
            out = self._emit("response.output_item.added", {"output_index": number, "item": added})
            out += self._emit(
                "response.content_part.added",
                {
                    "item_id": item.item_id,
                    "output_index": number,
                    "content_index": 0,
                    "part": _text_part(""),
                },
            )
            if block.get("text"):
                out += self._text(item, block["text"])
        elif kind == "tool_use":
            item = _Item("function_call", f"fc_{self._id[5:]}_{index}", number)
            item.call_id, item.name = block["id"], block["name"]
            added = _function_call(item.item_id, item.call_id, item.name, "", "in_progress")
            out = self._emit("response.output_item.added", {"output_index": number, "item": added})
        else:
            return b""  # thinking is not shown
        self._items[index] = item
        self._next_output += 1
        return out

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        item = self._items.get(index)
        if item is None:
            return b""
        if delta["type"] == "text_delta" and item.kind == "message":
            return self._text(item, delta["text"])
        if delta["type"] == "input_json_delta" and item.kind == "function_call":
            piece = delta["partial_json"]
            if not piece:
                return b""
            item.parts.append(piece)
            return self._emit(
                "response.function_call_arguments.delta",
                {"item_id": item.item_id, "output_index": item.output_index, "delta": piece},
            )
        return b""

    def _text(self, item: _Item, text: str) -> bytes:
        item.parts.append(text)
        return self._emit(
            "response.output_text.delta",
            {
                "item_id": item.item_id,
                "output_index": item.output_index,
                "content_index": 0,
                "delta": text,
                "logprobs": [],
            },
        )

    def _block_stop(self, index: int) -> bytes:
        item = self._items.pop(index, None)
        if item is None:
            return b""
        joined = "".join(item.parts)
        where = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "message":
            out = self._emit(
                "response.output_text.done",
                {**where, "content_index": 0, "text": joined, "logprobs": []},
            )
            out += self._emit(
                "response.content_part.done",
                {**where, "content_index": 0, "part": _text_part(joined)},
            )
            done = _message_item(item.item_id, joined, "completed")
        else:
            arguments = joined or "{}"
            out = self._emit(
                "response.function_call_arguments.done", {**where, "arguments": arguments}
            )
            done = _function_call(item.item_id, item.call_id, item.name, arguments, "completed")
        self._output.append(done)
        return out + self._emit(
            "response.output_item.done", {"output_index": item.output_index, "item": done}
        )
