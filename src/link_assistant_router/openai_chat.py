"""OpenAI Chat Completions <-> Anthropic Messages: requests, answers and streams. Pure: no I/O.

``chat_to_messages`` turns a chat.completions request into a Messages request; what Claude cannot
honour is refused with the field named. ``message_to_chat`` turns a Messages answer into a
chat.completion. ``ChatStreamTranslator`` turns a Messages event stream into chat.completion.chunk
events as each event completes.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from link_assistant_router.errors import InvalidRequest

DEFAULT_MAX_TOKENS = 4096
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class ChatRequestError(InvalidRequest):
    """An OpenAI request the router cannot translate; ``param`` names the field (or None)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


# --- requests ------------------------------------------------------------------------------------


def chat_to_messages(document: Any, *, model: str) -> dict[str, Any]:
    """An OpenAI chat.completions request body -> an Anthropic Messages body for ``model``."""
    if not isinstance(document, dict):
        raise ChatRequestError("the request body must be a JSON object")
    _refuse_unsupported(document)
    system, turns = _conversation(document.get("messages"))
    body: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        body["system"] = "\n\n".join(system)
    body["max_tokens"] = _max_tokens(document)
    for name in ("temperature", "top_p"):
        value = document.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ChatRequestError(f"{name} must be a number", name)
            body[name] = min(max(float(value), 0.0), 1.0)
    stop = document.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise ChatRequestError("stop must be a string or a list of strings", "stop")
        if stops:
            body["stop_sequences"] = stops
    if document.get("stream") is True:
        body["stream"] = True
    user = document.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    tools = _tools(document)
    if tools:
        body["tools"] = tools
    choice = _tool_choice(document)
    if choice is not None:
        body["tool_choice"] = choice
    effort = document.get("reasoning_effort")
    if effort is not None:
        budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
        if budget is None:
            raise ChatRequestError(
                "reasoning_effort must be minimal, low, medium or high", "reasoning_effort"
            )
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body["max_tokens"] <= budget:
            body["max_tokens"] += budget
        body.pop("temperature", None)  # Claude thinks only at its default temperature
        body.pop("top_p", None)
    return body


def _refuse_unsupported(document: dict[str, Any]) -> None:
    n = document.get("n")
    if n is not None and n != 1:
        raise ChatRequestError("n must be 1: Claude gives one answer per request", "n")
    if document.get("logprobs"):
        raise ChatRequestError("logprobs are not available from Claude", "logprobs")
    if document.get("top_logprobs") is not None:
        raise ChatRequestError("top_logprobs are not available from Claude", "top_logprobs")
    for name in ("audio", "prediction", "web_search_options"):
        if document.get(name) is not None:
            raise ChatRequestError(f"{name} is not supported by this router", name)
    modalities = document.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        raise ChatRequestError("only text output is supported", "modalities")
    response_format = document.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in (None, "text"):
        raise ChatRequestError(
            "response_format other than text is not supported", "response_format"
        )


def _max_tokens(document: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = document.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ChatRequestError(f"{name} must be a positive integer", name)
        return value
    return DEFAULT_MAX_TOKENS


def _conversation(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the alternating user/assistant turns."""
    if not isinstance(messages, list) or not messages:
        raise ChatRequestError("messages must be a non-empty list", "messages")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        if not isinstance(message, dict):
            raise ChatRequestError(f"{where} must be an object", where)
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text_only(message.get("content"), where))
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), where))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, where))
        elif role in ("tool", "function"):
            _append(turns, "user", [_tool_result(message, where)])
        else:
            raise ChatRequestError(f"{where}.role {role!r} is not supported", f"{where}.role")
    if not turns:
        raise ChatRequestError("messages needs at least one user message", "messages")
    return system, turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Add a turn; Claude needs alternating roles, so a turn of the same role merges in."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        previous = turns[-1]["content"]
        if isinstance(previous, str):
            previous = [{"type": "text", "text": previous}]
        turns[-1]["content"] = previous + blocks
        return
    if len(blocks) == 1 and blocks[0]["type"] == "text" and role == "user":
        turns.append({"role": role, "content": blocks[0]["text"]})
    else:
        turns.append({"role": role, "content": blocks})


def _text_only(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for number, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ChatRequestError(
                    f"{where}.content[{number}] must be a text part", f"{where}.content"
                )
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise ChatRequestError(f"{where}.content must be a string or text parts", f"{where}.content")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ChatRequestError(f"{where}.content must be a string or a list", f"{where}.content")
    blocks = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), at))
        else:
            raise ChatRequestError(f"{at}.type {kind!r} is not supported", f"{at}.type")
    return blocks


def _image(image: Any, where: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise ChatRequestError(f"{where}.image_url needs a url", f"{where}.image_url")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise ChatRequestError(
                f"{where}: data URLs must be data:<type>;base64,<data>", f"{where}.image_url"
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ChatRequestError(
        f"{where}: image URLs must be http(s) or data URLs", f"{where}.image_url"
    )


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if content is not None:
        text = _text_only(content, where) if not isinstance(content, str) else content
        if text:
            blocks.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    if calls is None and isinstance(message.get("function_call"), dict):
        calls = [{"id": "call_" + os.urandom(8).hex(), "function": message["function_call"]}]
    for number, call in enumerate(calls or []):
        at = f"{where}.tool_calls[{number}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ChatRequestError(f"{at} needs a function with a name", at)
        blocks.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or "call_" + os.urandom(8).hex()),
                "name": function["name"],
                "input": _arguments(function.get("arguments"), f"{at}.function.arguments"),
            }
        )
    return blocks


def _arguments(arguments: Any, where: str) -> Any:
    if arguments is None or arguments == "":
        return {}
    if not isinstance(arguments, str):
        raise ChatRequestError(f"{where} must be a JSON string", where)
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise ChatRequestError(f"{where} is not valid JSON", where) from exc


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_use_id = message.get("tool_call_id") or message.get("name")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise ChatRequestError(f"{where} needs tool_call_id", f"{where}.tool_call_id")
    content = message.get("content")
    text = content if isinstance(content, str) else _text_only(content or "", where)
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}


def _tools(document: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for number, tool in enumerate(document.get("tools") or []):
        at = f"tools[{number}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise ChatRequestError(f"{at}: only function tools are supported", at)
        tools.append(_function_tool(tool.get("function"), at))
    for number, function in enumerate(document.get("functions") or []):
        tools.append(_function_tool(function, f"functions[{number}]"))
    return tools


def _function_tool(function: Any, where: str) -> dict[str, Any]:
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise ChatRequestError(f"{where} needs a function with a name", where)
    tool: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if isinstance(function.get("description"), str):
        tool["description"] = function["description"]
    return tool


def _tool_choice(document: dict[str, Any]) -> dict[str, Any] | None:
    choice = document.get("tool_choice", document.get("function_call"))
    parallel = document.get("parallel_tool_calls")
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "none":
        result = {"type": "none"}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict):
        function = choice.get("function") if "function" in choice else choice
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str):
            raise ChatRequestError("tool_choice must name a function", "tool_choice")
        result = {"type": "tool", "name": name}
    else:
        raise ChatRequestError(
            "tool_choice must be auto, none, required or a function", "tool_choice"
        )
    if parallel is False:
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


# --- answers -------------------------------------------------------------------------------------


def chat_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> OpenAI's: prompt tokens include cache writes and reads."""
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = (
        int(usage.get("input_tokens") or 0)
        + int(usage.get("cache_creation_input_tokens") or 0)
        + cached
    )
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def message_to_chat(
    message: dict[str, Any], *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """An Anthropic Messages answer -> an OpenAI chat.completion (``model``: as asked)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input", {})).decode(),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": chat_usage(message.get("usage") or {}),
    }


# --- streams -------------------------------------------------------------------------------------


_TEXT_TAIL = b'},"finish_reason":null,"logprobs":null}]}\n\n'
_DELTA_EVENT = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = b',"delta":{"type":"text_delta","text":'


class ChatStreamTranslator:
    """Anthropic SSE bytes in, OpenAI chat.completion.chunk SSE bytes out, event by event."""

    def __init__(
        self, *, model: str, completion_id: str, created: int, include_usage: bool
    ) -> None:
        self._head = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
        self._model = model
        self._include_usage = include_usage
        self._pending = b""
        self._done = False
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool call index
        self._input_usage: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        empty = self._chunk({"content": ""})
        cut = empty.index(b'"content":""') + len(b'"content":')
        self._text_head = empty[:cut]
        assert empty[cut + 2 :] == _TEXT_TAIL, "orjson changed how it writes the chunk"

    def feed(self, chunk: bytes) -> bytes:
        """Any slice of the upstream body; returns the translated events that completed."""
        if self._done:
            return b""
        data = self._pending + chunk if self._pending else chunk
        if b"\r" in data:  # CRLF line ends (a CR at the very end waits for its LF)
            data = data.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        start = 0
        while not self._done:
            end = data.find(b"\n\n", start)
            if end < 0:
                break
            out.append(self._event(data[start:end]))
            start = end + 2
        self._pending = data[start:] if not self._done else b""
        return b"".join(out)

    def close(self) -> bytes:
        """At the end of the upstream body: what remains, then ``data: [DONE]`` (once)."""
        if self._done:
            return b""
        out = self._event(self._pending) if self._pending.strip() else b""
        self._pending = b""
        if self._done:
            return out
        self._done = True
        return out + b"data: [DONE]\n\n"

    def _event(self, raw: bytes) -> bytes:
        # Fast path for the most frequent event, a text delta in Anthropic's compact form
        # (`...,"delta":{"type":"text_delta","text":"<string>"}}`): the text is already a JSON
        # string, so it goes into the chunk as it is, without decoding and encoding it again.
        marker = raw.find(_TEXT_DELTA)
        if (
            marker > 0
            and raw.startswith(_DELTA_EVENT)
            and raw.endswith(b'"}}')
            and raw.count(b"\n") == 1
        ):
            return self._text_head + raw[marker + len(_TEXT_DELTA) : -2] + _TEXT_TAIL
        name, data = b"", b""
        for line in raw.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if not data:
            return b""
        if name == b"ping":
            return b": ping\n\n"
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "message_start":
            self._input_usage = (event.get("message") or {}).get("usage") or {}
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") != "tool_use":
                return b""
            number = len(self._tool_index)
            self._tool_index[event.get("index", 0)] = number
            call = {
                "index": number,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return self._chunk({"tool_calls": [call]})
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                # The most frequent event: the chunk's fixed parts are built once.
                return self._text_head + orjson.dumps(delta.get("text", "")) + _TEXT_TAIL
            if delta.get("type") == "input_json_delta":
                number = self._tool_index.get(event.get("index", 0), 0)
                call = {"index": number, "function": {"arguments": delta.get("partial_json", "")}}
                return self._chunk({"tool_calls": [call]})
            return b""  # thinking and signatures are not shown
        if kind == "message_delta":
            usage = {**self._input_usage, **(event.get("usage") or {})}
            self.usage = chat_usage(usage)
            reason = (event.get("delta") or {}).get("stop_reason") or ""
            out = self._chunk({}, FINISH_REASONS.get(reason, "stop"))
            if self._include_usage:
                out += self._sse(
                    {**self._head, "model": self._model, "choices": [], "usage": self.usage}
                )
            return out
        if kind == "error":
            error = event.get("error") or {}
            self._done = True
            body = {
                "error": {
                    "message": error.get("message", "the upstream stream failed"),
                    "type": error.get("type", "api_error"),
                    "param": None,
                    "code": None,
                }
            }
            return self._sse(body) + b"data: [DONE]\n\n"
        return b""

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return self._sse({**self._head, "model": self._model, "choices": [choice]})

    @staticmethod
    def _sse(document: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(document) + b"\n\n"
