"""``openai_tools``: names Claude accepts, reversible; custom tool input streamed as decoded."""

from __future__ import annotations

import re

import orjson
import pytest

from link_assistant_router.formats.openai_common import OpenAIRequestError
from link_assistant_router.formats.openai_tools import (
    CustomInputStream,
    ToolBook,
    ToolReader,
    ToolRef,
)

CLAUDE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def test_namespaced_names_are_reversible_and_collision_safe() -> None:
    book = ToolBook()
    plain = book.add(ToolRef("function", "a__b"))
    grouped = book.add(ToolRef("function", "b", "a"))  # would also be a__b
    dotted = book.add(ToolRef("custom", "run", "mcp.server"))
    long = book.add(ToolRef("function", "x" * 60, "namespace"))
    assert plain == "a__b" and grouped != plain
    for name in (grouped, dotted, long):
        assert CLAUDE_NAME.fullmatch(name)
    assert book.ref(grouped) == ToolRef("function", "b", "a")
    assert book.ref(dotted) == ToolRef("custom", "run", "mcp.server")
    assert book.claude_name("b", "a") == grouped  # a call in the history maps the same way
    assert book.ref("unknown_tool") == ToolRef("function", "unknown_tool")
    other = ToolBook()
    assert other.claude_name("x" * 60, "namespace") == long  # undeclared: the same name


@pytest.mark.parametrize(
    ("entry", "param"),
    [
        ({"type": "namespace", "name": "n", "tools": "no"}, "tools[0].tools"),
        (
            {"type": "namespace", "name": "n", "tools": [{"type": "web_search"}]},
            "tools[0].tools[0].type",
        ),
        ({"type": "custom", "name": "c", "format": {"type": "regexp"}}, "tools[0].format.type"),
        ({"type": "custom"}, "tools[0].name"),
        ({"name": "no type"}, "tools[0].type"),
    ],
)
def test_malformed_tools_are_refused_naming_the_field(entry: object, param: str) -> None:
    with pytest.raises(OpenAIRequestError) as caught:
        ToolReader(ToolBook(), "drop").read([entry], "tools")
    assert caught.value.param == param


def test_custom_input_streams_as_decoded_text_whatever_the_slicing() -> None:
    text = 'line "one"\n\ttab \\ back é 😀 end'
    raw = orjson.dumps({"input": text}).decode("utf-8")
    ascii_raw = '{"input": ' + ascii_json(text) + "}"
    for body in (raw, ascii_raw):
        for size in (1, 2, 3, 5, 100):
            stream = CustomInputStream()
            out = "".join(stream.feed(body[i : i + size]) for i in range(0, len(body), size))
            assert out == text
            assert stream.raw == body


def ascii_json(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=True)
