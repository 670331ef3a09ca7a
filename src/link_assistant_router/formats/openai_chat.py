"""OpenAI Chat Completions <-> Anthropic Messages: requests, answers and streams. Pure: no I/O.

``chat_to_messages`` turns a chat.completions request into a Messages request and refuses, naming
the field, what Claude cannot honour. ``message_to_chat`` turns a Messages answer into a
chat.completion. ``ChatStreamTranslator`` turns a Messages event stream into chat.completion.chunk
events, each as soon as the upstream event it comes from is complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from link_assistant_router.formats.openai_common import (
    OpenAIRequestError,
    Rules,
    add_turn,
    claude_tool_choice,
    content_blocks,
    copy_sampling,
    copy_stream,
    default_max_tokens,
    function_tool,
    image_block,
    prompt_tokens,
    shown,
    text_block,
    think,
    tool_use,
    unsupported,
)
from link_assistant_router.formats.openai_tools import (
    CustomInputStream,
    ToolBook,
    ToolRef,
    custom_call_input,
    custom_input,
    custom_tool,
)
from link_assistant_router.proxy.sse import TEXT_DELTA, EventTranslator, event_object

__all__ = [
    "FINISH_REASONS",
    "ChatRequest",
    "ChatStreamTranslator",
    "chat_to_messages",
    "chat_usage",
    "message_to_chat",
]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# --- requests ------------------------------------------------------------------------------------


@dataclass
class ChatRequest:
    """A chat.completions request as a Messages request, and its tools (for the answer)."""

    body: dict[str, Any]
    tools: ToolBook = field(default_factory=ToolBook)


def chat_to_messages(document: Any, *, model: str, rules: Rules | None = None) -> ChatRequest:
    """An OpenAI chat.completions request body (parsed JSON) -> an Anthropic Messages request.

    ``model`` is the upstream model id, already resolved from aliases. Raises OpenAIRequestError,
    with ``param`` naming the field, for what is malformed or cannot be honoured.
    """
    rules = rules or Rules()
    if not isinstance(document, dict):
        raise OpenAIRequestError("the request body must be a JSON object")
    _refuse_unsupported(document)
    book = ToolBook()
    tools = _tools(document, book)
    system, turns = _conversation(document.get("messages"))
    max_tokens = _max_tokens(document) or default_max_tokens(rules, model)
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": max_tokens}
    if system:
        body["system"] = "\n\n".join(system)
    copy_sampling(document, body)
    copy_stream(document, body)
    user = document.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise OpenAIRequestError("user must be a string", "user")
        if user:
            body["metadata"] = {"user_id": user}
    choice = _tool_choice(document, tools)
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice
    think(document.get("reasoning_effort"), body, rules, "reasoning_effort")
    return ChatRequest(body, book)


def _refuse_unsupported(document: dict[str, Any]) -> None:
    n = document.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n != 1):
        raise OpenAIRequestError("n must be 1: Claude gives one answer per request", "n")
    if document.get("logprobs") not in (None, False):
        raise OpenAIRequestError("logprobs are not available from Claude", "logprobs")
    if document.get("top_logprobs") not in (None, 0):
        raise OpenAIRequestError("top_logprobs are not available from Claude", "top_logprobs")
    for name in ("audio", "prediction", "web_search_options"):
        if document.get(name) is not None:
            raise OpenAIRequestError(f"{name} is not supported by this router", name)
    modalities = document.get("modalities")
    if modalities is not None and (not isinstance(modalities, list) or "audio" in modalities):
        raise OpenAIRequestError("modalities: only text output is supported", "modalities")
    for name in ("frequency_penalty", "presence_penalty"):
        value = document.get(name)
        if value is not None and value != 0:
            raise OpenAIRequestError(
                f"{name} is not supported by Claude (only 0 is accepted)", name
            )
    if document.get("logit_bias"):
        raise OpenAIRequestError("logit_bias is not supported by Claude", "logit_bias")
    response_format = document.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") != "text"
    ):
        raise OpenAIRequestError(
            "response_format: only type text is supported by this router", "response_format"
        )


def _max_tokens(document: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = document.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise OpenAIRequestError(f"{name} must be a positive integer", name)
        return value
    return None


def _conversation(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts, and the turns with same-role neighbours merged (Claude alternates)."""
    if not isinstance(messages, list) or not messages:
        raise OpenAIRequestError("messages must be a non-empty list", "messages")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    call_ids: dict[str, str] = {}  # function name -> id of its latest call, for `function` results
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        if not isinstance(message, dict):
            raise OpenAIRequestError(f"{where} must be an object", where)
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"), where)
            if text:
                system.append(text)
        elif role == "user":
            add_turn(turns, "user", content_blocks(message.get("content"), where, _user_part))
        elif role == "assistant":
            blocks = _assistant_blocks(message, number)
            call_ids.update((b["name"], b["id"]) for b in blocks if b["type"] == "tool_use")
            add_turn(turns, "assistant", blocks)
        elif role == "tool":
            tool_call_id = message.get("tool_call_id")
            if not isinstance(tool_call_id, str) or not tool_call_id:
                raise OpenAIRequestError(
                    f"{where}.tool_call_id is required", f"{where}.tool_call_id"
                )
            add_turn(turns, "user", [_tool_result(tool_call_id, message.get("content"), where)])
        elif role == "function":
            name = message.get("name")
            if not isinstance(name, str) or name not in call_ids:
                raise OpenAIRequestError(
                    f"{where}.name must name a function an earlier assistant message called",
                    f"{where}.name",
                )
            add_turn(turns, "user", [_tool_result(call_ids[name], message.get("content"), where)])
        else:
            raise OpenAIRequestError(
                f"{where}.role {shown(role)} is not supported", f"{where}.role"
            )
    if not turns:
        raise OpenAIRequestError("messages needs at least one non-empty user message", "messages")
    return system, turns


def _text(content: Any, where: str, *, refusals: bool = False) -> str:
    """A string, or text parts joined; null is empty."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise OpenAIRequestError(
            f"{where}.content must be a string or a list of text parts", f"{where}.content"
        )
    texts = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        key = "refusal" if refusals and kind == "refusal" else "text"
        if kind != key:
            raise OpenAIRequestError(f"{at}.type {shown(kind)} is not supported here", f"{at}.type")
        if not isinstance(part.get(key), str):
            raise OpenAIRequestError(f"{at}.{key} must be a string", f"{at}.{key}")
        texts.append(part[key])
    return "".join(texts)


def _user_part(part: dict[str, Any], kind: str, at: str) -> dict[str, Any] | None:
    if kind == "text":
        return text_block(part.get("text"), f"{at}.text")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return image_block(url, f"{at}.image_url.url")
    unsupported(kind, at)


def _assistant_blocks(message: dict[str, Any], number: int) -> list[dict[str, Any]]:
    where = f"messages[{number}]"
    text = _text(message.get("content"), where, refusals=True)
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise OpenAIRequestError(f"{where}.tool_calls must be a list", f"{where}.tool_calls")
        for position, call in enumerate(calls):
            at = f"{where}.tool_calls[{position}]"
            if not isinstance(call, dict):
                raise OpenAIRequestError(f"{at} must be an object", at)
            call_id = call.get("id")
            if not isinstance(call_id, str) or not call_id:
                raise OpenAIRequestError(f"{at}.id is required", f"{at}.id")
            if call.get("type") == "custom":
                blocks.append(_custom_call(call_id, call.get("custom"), f"{at}.custom"))
            else:
                blocks.append(tool_use(call_id, call.get("function"), f"{at}.function"))
    elif message.get("function_call") is not None:
        # The legacy form has no id; one made from the message's position is unique and stable.
        call_id = f"call_function_{number}"
        blocks.append(tool_use(call_id, message["function_call"], f"{where}.function_call"))
    return blocks


def _custom_call(call_id: str, custom: Any, where: str) -> dict[str, Any]:
    name = custom.get("name") if isinstance(custom, dict) else None
    if not isinstance(name, str) or not name:
        raise OpenAIRequestError(f"{where}.name is required", f"{where}.name")
    tool_input = custom_call_input(custom.get("input"), f"{where}.input")
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def _tool_result(tool_use_id: str, content: Any, where: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": _text(content, where)}


def _tools(document: dict[str, Any], book: ToolBook) -> list[dict[str, Any]]:
    tools = []
    for name in ("tools", "functions"):
        listed = document.get(name)
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise OpenAIRequestError(f"{name} must be a list", name)
        for number, entry in enumerate(listed):
            at = f"{name}[{number}]"
            if name == "tools":
                kind = entry.get("type") if isinstance(entry, dict) else None
                if kind == "custom":
                    tools.append(_custom_tool(entry.get("custom"), f"{at}.custom", book))
                    continue
                if kind != "function":
                    raise OpenAIRequestError(
                        f"{at}: only function and custom tools are supported", f"{at}.type"
                    )
                entry, at = entry.get("function"), f"{at}.function"
            tools.append(function_tool(entry, at))
    return tools


def _custom_tool(custom: Any, at: str, book: ToolBook) -> dict[str, Any]:
    name = custom.get("name") if isinstance(custom, dict) else None
    if not isinstance(name, str) or not name:
        raise OpenAIRequestError(f"{at}.name is required", f"{at}.name")
    return custom_tool(custom, at, book.add(ToolRef("custom", name)))


def _tool_choice(document: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    param = "tool_choice" if "tool_choice" in document else "function_call"  # or the legacy name
    choice = document.get(param)
    if isinstance(choice, dict):
        named = choice.get("custom" if choice.get("type") == "custom" else "function")
        function = named if param == "tool_choice" else choice
        choice = {"name": function.get("name") if isinstance(function, dict) else None}
    return claude_tool_choice(choice, document.get("parallel_tool_calls"), tools, param)


# --- answers -------------------------------------------------------------------------------------


def chat_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> OpenAI's: prompt tokens include cache writes and cache reads."""
    prompt, cached = prompt_tokens(usage)
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def message_to_chat(
    message: dict[str, Any],
    *,
    model: str,
    completion_id: str,
    created: int,
    tools: ToolBook | None = None,
) -> dict[str, Any]:
    """An Anthropic Messages response -> an OpenAI chat.completion; ``model`` as the client asked.

    Text blocks join into ``content`` (null when there are none), tool_use blocks become
    ``tool_calls``; thinking is not shown.
    """
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            ref = (tools or ToolBook()).ref(block.get("name") or "")
            if ref.kind == "custom":
                custom = {"name": ref.name, "input": custom_input(block.get("input"))}
                calls.append({"id": block.get("id"), "type": "custom", "custom": custom})
                continue
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        reply["tool_calls"] = calls
    finish_reason = FINISH_REASONS.get(message.get("stop_reason") or "", "stop")
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": reply, "finish_reason": finish_reason, "logprobs": None}
        ],
        "usage": chat_usage(message.get("usage") or {}),
    }


# --- streams -------------------------------------------------------------------------------------

_DONE = b"data: [DONE]\n\n"
_PING = b": ping\n\n"
_TEXT_OPEN = b'{"content":'
_MORE = b',"finish_reason":null,"logprobs":null}]}\n\n'
_TEXT_CLOSE = b"}" + _MORE


class ChatStreamTranslator(EventTranslator):
    """Anthropic SSE bytes in, OpenAI chat.completion.chunk SSE bytes out.

    ``feed`` takes any slice of the upstream body and returns the chunks of the events it
    completed; ``close`` at upstream EOF returns the rest and ``data: [DONE]``, exactly once. An
    upstream ``error`` event becomes an OpenAI error chunk and ends the stream. Events it does
    not know (or cannot read) give nothing.
    """

    takes_text_deltas = True

    def __init__(
        self,
        *,
        model: str,
        completion_id: str,
        created: int,
        include_usage: bool,
        tools: ToolBook | None = None,
    ) -> None:
        header = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        self._header = {**header, "model": model}
        # Every chunk is this prefix, a delta and an ending: the fixed parts are encoded once.
        self._prefix = (
            b"data: " + orjson.dumps(self._header)[:-1] + b',"choices":[{"index":0,"delta":'
        )
        self._include_usage = include_usage
        super().__init__()
        self._tool_calls: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self._book = tools or ToolBook()
        self._custom: dict[int, CustomInputStream] = {}  # the custom tool calls' inputs
        self._prompt_usage: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None

    @property
    def usage(self) -> dict[str, Any] | None:
        """The OpenAI usage dict, once the upstream's message_delta has told the output count."""
        return self._usage

    def _end(self) -> bytes:
        return _DONE

    def _text_delta(self, found: re.Match[bytes]) -> bytes:
        """A plain text delta's chunk: the text's JSON string as the upstream wrote it."""
        return b"".join((self._prefix, _TEXT_OPEN, found[2], _TEXT_CLOSE))

    def _event(self, raw: bytes) -> bytes:
        if self._done or not raw:
            return b""
        found = TEXT_DELTA.fullmatch(raw)  # the most frequent event: its text copied as it is
        if found is not None:
            return self._text_delta(found)
        event = event_object(raw)
        if event is None:
            return b""
        try:
            kind = event.get("type")
            if kind == "content_block_delta":
                delta = event["delta"]
                if delta["type"] == "text_delta":
                    return self._prefix + _TEXT_OPEN + orjson.dumps(delta["text"]) + _TEXT_CLOSE
                if delta["type"] == "input_json_delta":
                    return self._arguments(event["index"], delta["partial_json"])
                return b""  # thinking and its signature are not shown
            if kind == "content_block_start":
                return self._block_start(event["index"], event["content_block"])
            if kind == "message_start":
                self._prompt_usage = event["message"].get("usage") or {}
                return self._prefix + b'{"role":"assistant","content":""}' + _MORE
            if kind == "message_delta":
                return self._finish(event)
            if kind == "ping":
                return _PING
            if kind == "error":
                return self._error(event.get("error"))
        except (KeyError, TypeError, AttributeError, orjson.JSONEncodeError):
            pass  # an event not in the documented shape: nothing to tell the client
        return b""  # content_block_stop, message_stop, and what later API versions add

    def _block_start(self, index: int, block: dict[str, Any]) -> bytes:
        kind = block["type"]
        if kind == "tool_use":
            number = self._tool_calls[index] = len(self._tool_calls)
            ref = self._book.ref(block["name"])
            call: dict[str, Any] = {"index": number, "id": block["id"]}
            if ref.kind == "custom":
                self._custom[index] = CustomInputStream()
                call.update(type="custom", custom={"name": ref.name, "input": ""})
            else:
                call.update(type="function", function={"name": block["name"], "arguments": ""})
            return self._prefix + orjson.dumps({"tool_calls": [call]}) + _MORE
        if kind == "text" and block.get("text"):
            return self._prefix + _TEXT_OPEN + orjson.dumps(block["text"]) + _TEXT_CLOSE
        return b""

    def _arguments(self, index: int, partial_json: str) -> bytes:
        custom = self._custom.get(index)
        call: dict[str, Any] = {"index": self._tool_calls[index]}
        if custom is None:
            call["function"] = {"arguments": partial_json}
        else:
            text = custom.feed(partial_json)
            if not text:
                return b""
            call["custom"] = {"input": text}
        return self._prefix + orjson.dumps({"tool_calls": [call]}) + _MORE

    def _finish(self, event: dict[str, Any]) -> bytes:
        # message_delta's usage is cumulative; newer API versions repeat the input counts in it.
        usage = {**self._prompt_usage}
        usage.update((k, v) for k, v in (event.get("usage") or {}).items() if v is not None)
        self._usage = chat_usage(usage)
        reason = FINISH_REASONS.get(event["delta"].get("stop_reason") or "", "stop")
        out = self._prefix + b'{},"finish_reason":"%b","logprobs":null}]}\n\n' % reason.encode()
        if self._include_usage:
            document = {**self._header, "choices": [], "usage": self._usage}
            out += b"data: " + orjson.dumps(document) + b"\n\n"
        return out

    def _error(self, error: Any) -> bytes:
        self._done = True
        if not isinstance(error, dict):
            error = {}
        body = {
            "error": {
                "message": str(error.get("message") or "the upstream stream failed"),
                "type": str(error.get("type") or "api_error"),
                "param": None,
                "code": None,
            }
        }
        return b"data: " + orjson.dumps(body) + b"\n\n" + _DONE
