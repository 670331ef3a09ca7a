"""The kinds of tools OpenAI clients declare, as Claude tools, and the way back. Pure.

- ``function`` tools keep their name.
- ``namespace`` tools (a named group of functions or custom tools, as Codex sends
  ``multi_agent_v1``) become one Claude tool per member, named ``<namespace>__<name>``; a name
  Claude would refuse (over 64 characters, other characters than letters, digits, ``_`` and
  ``-``) or one already taken becomes a shortened name with a hash of the pair. ``ToolBook``
  keeps the pairs, so a call Claude makes comes back with ``namespace`` and ``name`` as the
  client declared them, and a call the client sends back maps to the same Claude name.
- ``custom`` tools (free-form string input, optionally held to a grammar) become Claude tools
  with one string property, ``input``; the grammar or format goes into the description.
- Built-in tools: ``web_search`` and ``web_search_preview`` become Anthropic's server-side web
  search, unless the client asks for no live web access (``external_web_access: false``);
  every other built-in (``file_search``, ``code_interpreter``, ``image_generation``, ...) is
  left out and named (``UNSUPPORTED_TOOLS=drop``) or refused with a 400 (``refuse``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from link_assistant_router.formats.openai_common import (
    OpenAIRequestError,
    function_tool,
    shown,
)

__all__ = [
    "CUSTOM_INPUT",
    "WEB_SEARCH_TOOL",
    "WEB_SEARCH_TYPES",
    "CustomInputStream",
    "ToolBook",
    "ToolReader",
    "ToolRef",
    "combined_name",
    "custom_call_input",
    "custom_input",
    "custom_tool",
    "hashed_name",
]

WEB_SEARCH_TOOL = "web_search_20250305"
"""Anthropic's server-side web search tool."""
WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
CUSTOM_INPUT = "input"
"""The one property of a custom tool's input, as Claude sees it."""

_CLAUDE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")
_NAMESPACE_JOIN = "__"
_HASH_CHARS = 8


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool as the client knows it."""

    kind: str
    """``function`` or ``custom``."""
    name: str
    namespace: str | None = None


def combined_name(name: str, namespace: str | None) -> str:
    """The Claude name of a tool: its own name, or ``<namespace>__<name>``."""
    return name if namespace is None else f"{namespace}{_NAMESPACE_JOIN}{name}"


def hashed_name(name: str, namespace: str | None) -> str:
    """A Claude name for a pair whose combined name is taken or one Claude refuses."""
    digest = hashlib.sha256(f"{namespace or ''}\0{name}".encode()).hexdigest()[:_HASH_CHARS]
    stem = _NOT_NAME.sub("_", combined_name(name, namespace))[: 64 - _HASH_CHARS - 1]
    return f"{stem}_{digest}"


@dataclass
class ToolBook:
    """The request's tools by their Claude names, and the built-in tools it left out."""

    refs: dict[str, ToolRef] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)
    _names: dict[tuple[str | None, str], str] = field(default_factory=dict)

    def add(self, ref: ToolRef) -> str:
        """Record ``ref``; its Claude name, unique in the request."""
        key = (ref.namespace, ref.name)
        known = self._names.get(key)
        if known is not None:
            return known
        name = combined_name(ref.name, ref.namespace)
        if ref.namespace is not None and (name in self.refs or not _CLAUDE_NAME.fullmatch(name)):
            name = hashed_name(ref.name, ref.namespace)
        self.refs[name] = ref
        self._names[key] = name
        return name

    def claude_name(self, name: str, namespace: str | None) -> str:
        """The Claude name of a tool a call in the history names (declared or not)."""
        known = self._names.get((namespace, name))
        if known is not None:
            return known
        combined = combined_name(name, namespace)
        if namespace is None or _CLAUDE_NAME.fullmatch(combined):
            return combined
        return hashed_name(name, namespace)

    def ref(self, claude_name: str) -> ToolRef:
        """The client's tool Claude called by ``claude_name``."""
        return self.refs.get(claude_name) or ToolRef("function", claude_name)


def custom_tool(entry: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    """A custom tool's declaration at ``where`` -> a Claude tool called ``name`` whose one
    string property is the free-form input."""
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise OpenAIRequestError(f"{where}.description must be a string", f"{where}.description")
    parts = [description] if description else []
    parts.append(f"Its input is free-form text (the {CUSTOM_INPUT} property), not JSON.")
    grammar = _grammar_text(entry.get("format"), f"{where}.format")
    if grammar:
        parts.append(grammar)
    schema = {
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's input."}},
        "required": [CUSTOM_INPUT],
    }
    return {"name": name, "description": "\n\n".join(parts), "input_schema": schema}


def _grammar_text(form: Any, where: str) -> str:
    """A custom tool's ``format`` (Responses' or Chat Completions' shape) as instructions."""
    if form is None:
        return ""
    if not isinstance(form, dict):
        raise OpenAIRequestError(f"{where} must be an object", where)
    if form.get("type") == "text":
        return ""
    if form.get("type") != "grammar":
        raise OpenAIRequestError(f"{where}.type must be text or grammar", f"{where}.type")
    nested = form.get("grammar")
    grammar: dict[str, Any] = nested if isinstance(nested, dict) else form
    syntax, definition = grammar.get("syntax"), grammar.get("definition")
    if not isinstance(definition, str) or not isinstance(syntax, str):
        raise OpenAIRequestError(f"{where}: a grammar needs its syntax and definition", where)
    return f"The input must match this {syntax} grammar:\n{definition}"


def custom_input(tool_input: Any) -> str:
    """The free-form input of a custom tool call, from the input Claude gave."""
    if isinstance(tool_input, dict) and isinstance(tool_input.get(CUSTOM_INPUT), str):
        return str(tool_input[CUSTOM_INPUT])
    return orjson.dumps(tool_input).decode()


def custom_call_input(text: Any, where: str) -> dict[str, Any]:
    """A custom tool call's ``input`` from the client's history -> Claude's tool input."""
    if not isinstance(text, str):
        raise OpenAIRequestError(f"{where} must be a string", where)
    return {CUSTOM_INPUT: text}


class ToolReader:
    """Reads the tools a request declares into Claude tools, recording them in ``book``."""

    def __init__(self, book: ToolBook, unsupported: str) -> None:
        self.book = book
        self.tools: list[dict[str, Any]] = []
        self._unsupported = unsupported
        self._web_search = False

    def read(self, listed: Any, where: str) -> None:
        """The Responses-shaped tools ``listed`` at ``where`` (a list)."""
        if listed is None:
            return
        if not isinstance(listed, list):
            raise OpenAIRequestError(f"{where} must be a list", where)
        for number, entry in enumerate(listed):
            self.entry(entry, f"{where}[{number}]")

    def entry(self, entry: Any, at: str, namespace: str | None = None) -> None:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(kind, str):
            raise OpenAIRequestError(f"{at} must be a tool object with a type", f"{at}.type")
        if kind == "function":
            name = self._name(entry, at)
            tool = function_tool(entry, at)
            tool["name"] = self.book.add(ToolRef("function", name, namespace))
            self.tools.append(tool)
        elif kind == "custom":
            name = self._name(entry, at)
            claude_name = self.book.add(ToolRef("custom", name, namespace))
            self.tools.append(custom_tool(entry, at, claude_name))
        elif kind == "namespace" and namespace is None:
            self._namespace(entry, at)
        elif kind in WEB_SEARCH_TYPES and namespace is None:
            self._web(entry, at)
        elif namespace is None:
            self.leave_out(kind, at)
        else:
            raise OpenAIRequestError(
                f"{at}: a namespace holds function and custom tools, not {shown(kind)}",
                f"{at}.type",
            )

    def leave_out(self, kind: str, at: str) -> None:
        """A built-in tool Claude cannot honour: left out and named, or refused."""
        if self._unsupported == "refuse":
            raise OpenAIRequestError(
                f"{at}: the built-in tool {shown(kind)} has no Claude equivalent here",
                f"{at}.type",
            )
        if kind not in self.book.left_out:
            self.book.left_out.append(kind)

    @staticmethod
    def _name(entry: dict[str, Any], at: str) -> str:
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise OpenAIRequestError(f"{at}.name is required", f"{at}.name")
        return name

    def _namespace(self, entry: dict[str, Any], at: str) -> None:
        namespace = self._name(entry, at)
        members = entry.get("tools")
        if not isinstance(members, list):
            raise OpenAIRequestError(f"{at}.tools must be a list", f"{at}.tools")
        about = entry.get("description")
        first = len(self.tools)
        for number, member in enumerate(members):
            self.entry(member, f"{at}.tools[{number}]", namespace)
        if isinstance(about, str) and about:
            for tool in self.tools[first:]:
                note = f"(One of the {namespace} tools: {about})"
                tool["description"] = f"{tool.get('description') or ''}\n\n{note}".lstrip()

    def _web(self, entry: dict[str, Any], at: str) -> None:
        if entry.get("external_web_access") is False:
            # The client asked for cached results only; Anthropic's search is live.
            self.leave_out(str(entry["type"]), at)
            return
        if self._web_search:
            return
        self._web_search = True
        tool: dict[str, Any] = {"type": WEB_SEARCH_TOOL, "name": "web_search"}
        filters = entry.get("filters")
        domains = filters.get("allowed_domains") if isinstance(filters, dict) else None
        if isinstance(domains, list) and domains:
            tool["allowed_domains"] = domains
        location = entry.get("user_location")
        if isinstance(location, dict):
            place = {
                k: v
                for k, v in location.items()
                if k in ("city", "region", "country", "timezone") and isinstance(v, str) and v
            }
            if place:
                tool["user_location"] = {"type": "approximate", **place}
        self.tools.append(tool)


_INPUT_START = re.compile(r'\s*\{\s*"' + CUSTOM_INPUT + r'"\s*:\s*"')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


class CustomInputStream:
    """The free-form input of a custom tool call as Claude streams it (pieces of the JSON
    ``{"input": "..."}``), decoded as far as the pieces go, for the client's input deltas."""

    __slots__ = ("_at", "_ended", "_raw")

    def __init__(self) -> None:
        self._raw = ""
        self._at = -1  # where the string's undecoded rest begins (-1: not found yet)
        self._ended = False

    @property
    def raw(self) -> str:
        """Every piece so far: the tool input's JSON."""
        return self._raw

    def feed(self, piece: str) -> str:
        """A piece of the JSON -> the input's characters it completed ("" if none)."""
        self._raw += piece
        if self._at < 0:
            start = _INPUT_START.match(self._raw)
            if start is None:
                return ""
            self._at = start.end()
        if self._ended:
            return ""
        raw, at, out = self._raw, self._at, []
        while at < len(raw):
            char = raw[at]
            if char == '"':
                self._ended = True
                break
            if char != "\\":
                out.append(char)
                at += 1
                continue
            decoded, used = _escape(raw, at)
            if used == 0:  # the escape is not complete yet
                break
            if used < 0:  # not JSON: the final input will say what it is
                self._ended = True
                break
            out.append(decoded)
            at += used
        self._at = at
        return "".join(out)


def _escape(raw: str, at: int) -> tuple[str, int]:
    """The escape at ``raw[at]`` (a backslash): its character and length; length 0 when the
    escape is incomplete, -1 when it is not one JSON allows."""

    if at + 1 >= len(raw):
        return "", 0
    kind = raw[at + 1]
    if kind != "u":
        return _ESCAPES.get(kind, kind), 2
    if at + 6 > len(raw):
        return "", 0
    try:
        code = int(raw[at + 2 : at + 6], 16)
        if not 0xD800 <= code < 0xDC00:
            return chr(code), 6
        if at + 12 > len(raw):
            return "", 0  # a high surrogate waits for its low half
        low = int(raw[at + 8 : at + 12], 16)
    except ValueError:
        return "", -1
    if raw[at + 6 : at + 8] != "\\u" or not 0xDC00 <= low < 0xE000:
        return "", -1
    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
