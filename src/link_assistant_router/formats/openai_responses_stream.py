"""Anthropic Messages streams -> OpenAI Responses streams. Pure: no I/O.

``ResponsesStreamTranslator`` turns a Messages event stream into Responses events, each as soon
as the upstream event it comes from is complete, building the output items
``openai_responses_output`` builds from a whole answer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from link_assistant_router.formats.openai_responses import ResponsesRequest
from link_assistant_router.formats.openai_responses_output import (
    call_item,
    message_item,
    reasoning_item,
    response_object,
    response_usage,
    search_result,
    status_of,
    text_part,
    url_citation,
    web_search_item,
)
from link_assistant_router.formats.openai_tools import CustomInputStream, ToolRef, custom_input
from link_assistant_router.proxy.sse import EventTranslator, event_object

__all__ = [
    "ResponsesStreamTranslator",
]


_TEXT_DELTA_HEAD = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","sequence_number":'
)
_TAIL = b',"logprobs":[]}\n\n'


class _Item:
    """One output item being streamed."""

    __slots__ = (
        "block",
        "citations",
        "custom",
        "delta_head",
        "item_id",
        "kind",
        "output_index",
        "parts",
        "ref",
    )

    def __init__(self, kind: str, item_id: str, output_index: int) -> None:
        self.kind = kind
        self.item_id = item_id
        self.output_index = output_index
        self.parts: list[str] = []
        self.ref = ToolRef("function", "")
        self.block: dict[str, Any] = {}
        self.citations: list[Any] = []
        self.custom: CustomInputStream | None = None
        # What its text deltas' data say between the sequence number and the text, encoded once.
        self.delta_head = (
            b',"item_id":'
            + orjson.dumps(item_id)
            + b',"output_index":'
            + str(output_index).encode()
            + b',"content_index":0,"delta":'
        )


class ResponsesStreamTranslator(EventTranslator):
    """Anthropic SSE bytes in, Responses SSE events out (``event: <type>`` + ``data:``).

    ``feed`` takes any slice of the upstream body; ``close`` at EOF ends the stream. Order:
    ``response.created``, ``response.in_progress``; per content block its
    ``output_item.added`` (and ``content_part.added``), deltas, ``...done`` events; then
    ``response.completed`` (or ``response.incomplete``) with the whole response and usage. An
    upstream error ends the stream with ``response.failed``.
    """

    takes_text_deltas = True

    def __init__(
        self,
        *,
        model: str,
        response_id: str,
        created: int,
        echo: dict[str, Any] | None = None,
        request: ResponsesRequest | None = None,
    ) -> None:
        self._model = model
        self._echo = echo
        self._id = response_id
        self._created = created
        self._shape = request or ResponsesRequest({})
        super().__init__()
        self._sequence = 0
        self._items: dict[int, _Item] = {}  # Anthropic block index -> item
        self._searches: dict[str, _Item] = {}  # web searches waiting for their results
        self._output: list[dict[str, Any]] = []  # finished items, in output order
        self._next_output = 0
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None

    def _end(self) -> bytes:
        """The upstream stopped without message_stop."""
        return self._failed({"code": "server_error", "message": "the upstream stream ended early"})

    def _text_delta(self, found: re.Match[bytes]) -> bytes | None:
        """A plain text delta of a message, its text decoded alone (no whole-event parse)."""
        item = self._items.get(int(found[1]))
        if item is None or item.kind != "message":
            return None
        return self._text(item, orjson.loads(found[2]))

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
                out = b"".join(self._search_done(item) for item in list(self._searches.values()))
                self._done = True
                status = status_of(self._stop_reason)
                response = self._response(
                    status, usage=response_usage(self._usage), stop_reason=self._stop_reason
                )
                return out + self._emit(f"response.{status}", {"response": response})
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

    def _added(self, index: int, item: _Item, added: dict[str, Any]) -> bytes:
        self._items[index] = item
        self._next_output += 1
        return self._emit(
            "response.output_item.added", {"output_index": item.output_index, "item": added}
        )

    def _block_start(self, index: int, block: dict[str, Any]) -> bytes:
        kind, number, suffix = block["type"], self._next_output, self._id[5:]
        if kind == "text":
            item = _Item("message", f"msg_{suffix}_{index}", number)
            out = self._added(index, item, message_item(item.item_id, "", "in_progress"))
            out += self._emit(
                "response.content_part.added",
                {**self._where(item), "content_index": 0, "part": text_part("")},
            )
            if block.get("text"):
                out += self._text(item, block["text"])
            return out
        if kind == "tool_use":
            item = _Item("tool", f"fc_{suffix}_{index}", number)
            item.ref = self._shape.tools.ref(block["name"])
            item.block = {"id": block["id"]}
            if item.ref.kind == "custom":
                item.custom = CustomInputStream()
            added = call_item(item.item_id, block["id"], item.ref, "", "in_progress")
            return self._added(index, item, added)
        if kind in ("thinking", "redacted_thinking"):
            item = _Item("reasoning", f"rs_{suffix}_{index}", number)
            item.block = dict(block)
            added = {"id": item.item_id, "type": "reasoning", "summary": []}
            return self._added(index, item, added)
        if kind == "server_tool_use" and block.get("name") == "web_search":
            item = _Item("web_search", f"ws_{suffix}_{index}", number)
            self._searches[block["id"]] = item
            out = self._added(index, item, web_search_item(item.item_id, None, "in_progress"))
            out += self._emit("response.web_search_call.in_progress", self._where(item))
            return out + self._emit("response.web_search_call.searching", self._where(item))
        if kind == "web_search_tool_result":
            search = self._searches.get(block.get("tool_use_id") or "")
            if search is not None:
                search.block["content"] = block.get("content")
                return self._search_done(search)
        return b""

    @staticmethod
    def _where(item: _Item) -> dict[str, Any]:
        return {"item_id": item.item_id, "output_index": item.output_index}

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        item = self._items.get(index)
        if item is None:
            return b""
        kind = delta["type"]
        if kind == "text_delta" and item.kind == "message":
            return self._text(item, delta["text"])
        if kind == "citations_delta" and item.kind == "message":
            item.citations.append(delta.get("citation"))
            return b""
        if kind == "input_json_delta" and item.kind in ("tool", "web_search"):
            piece = delta["partial_json"]
            if not piece:
                return b""
            item.parts.append(piece)
            if item.kind == "web_search":
                return b""
            if item.custom is not None:
                text = item.custom.feed(piece)
                if not text:
                    return b""
                return self._emit(
                    "response.custom_tool_call_input.delta", {**self._where(item), "delta": text}
                )
            return self._emit(
                "response.function_call_arguments.delta", {**self._where(item), "delta": piece}
            )
        if kind == "thinking_delta" and item.kind == "reasoning":
            return self._thinking(item, delta["thinking"])
        if kind == "signature_delta" and item.kind == "reasoning":
            item.block["signature"] = item.block.get("signature", "") + delta["signature"]
        return b""

    def _text(self, item: _Item, text: str) -> bytes:
        """``response.output_text.delta``: the bytes ``_emit`` would make, made directly (the
        most frequent event of a stream)."""
        item.parts.append(text)
        sequence = self._sequence
        self._sequence += 1
        return b"".join(
            (_TEXT_DELTA_HEAD, str(sequence).encode(), item.delta_head, orjson.dumps(text), _TAIL)
        )

    def _thinking(self, item: _Item, text: str) -> bytes:
        item.block["thinking"] = item.block.get("thinking", "") + text
        if not self._shape.summary or not text:
            return b""
        out = b""
        if not item.parts:
            out = self._emit(
                "response.reasoning_summary_part.added",
                {**self._where(item), "summary_index": 0, "part": _summary("")},
            )
        item.parts.append(text)
        return out + self._emit(
            "response.reasoning_summary_text.delta",
            {**self._where(item), "summary_index": 0, "delta": text},
        )

    def _block_stop(self, index: int) -> bytes:
        item = self._items.pop(index, None)
        if item is None:
            return b""
        if item.kind == "web_search":  # the query is known now; the item ends with its results
            item.block["query"] = _object("".join(item.parts)).get("query")
            return b""
        joined = "".join(item.parts)
        where = self._where(item)
        if item.kind == "message":
            annotations = [url_citation(c, 0, len(joined)) for c in item.citations]
            out = self._emit(
                "response.output_text.done",
                {**where, "content_index": 0, "text": joined, "logprobs": []},
            )
            for number, annotation in enumerate(annotations):
                out += self._emit(
                    "response.output_text.annotation.added",
                    {
                        **where,
                        "content_index": 0,
                        "annotation_index": number,
                        "annotation": annotation,
                    },
                )
            out += self._emit(
                "response.content_part.done",
                {**where, "content_index": 0, "part": text_part(joined, annotations)},
            )
            done = message_item(item.item_id, joined, "completed", annotations)
        elif item.kind == "reasoning":
            out = b""
            if item.parts:
                out = self._emit(
                    "response.reasoning_summary_text.done",
                    {**where, "summary_index": 0, "text": joined},
                )
                out += self._emit(
                    "response.reasoning_summary_part.done",
                    {**where, "summary_index": 0, "part": _summary(joined)},
                )
            done = reasoning_item(item.item_id, item.block, self._shape)
        elif item.custom is not None:
            text = custom_input(_object(item.custom.raw or "{}"))
            out = self._emit("response.custom_tool_call_input.done", {**where, "input": text})
            done = call_item(item.item_id, item.block["id"], item.ref, text, "completed")
        else:
            arguments = joined or "{}"
            out = self._emit(
                "response.function_call_arguments.done", {**where, "arguments": arguments}
            )
            done = call_item(item.item_id, item.block["id"], item.ref, arguments, "completed")
        return out + self._done_item(item, done)

    def _done_item(self, item: _Item, done: dict[str, Any]) -> bytes:
        self._output.append(done)
        return self._emit(
            "response.output_item.done", {"output_index": item.output_index, "item": done}
        )

    def _search_done(self, item: _Item) -> bytes:
        """A web search ends: its results came (or the answer ended without them)."""
        self._searches = {k: v for k, v in self._searches.items() if v is not item}
        done = web_search_item(item.item_id, item.block.get("query"), "completed")
        if "content" in item.block:
            search_result(done, item.block["content"])
        out = self._emit("response.web_search_call.completed", self._where(item))
        return out + self._done_item(item, done)


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _object(raw: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
