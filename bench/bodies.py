"""The request bodies of the benchmark's cases, generated deterministically.

- ``json``: a small non-streaming Messages request (~300 bytes);
- ``sse``: a Claude Code-shaped streaming request (~90 KB): a large ``system`` array with cache
  control, 12 tool schemas, a few turns with tool use, ``metadata.user_id``, ``"stream": true``;
- ``big``: a non-streaming request of exactly 1 MiB, nearly all of it one user message;
- ``chat``: the ``sse`` case's text as an OpenAI Chat Completions streaming request (~90 KB),
  sent to ``/v1/chat/completions``: the router only (nothing else translates);
- ``responses``: the same as an OpenAI Responses streaming request (~90 KB, instructions and an
  input message, as Codex sends them), sent to ``/v1/responses``: the router only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

SMALL_MODEL = "claude-haiku-5-5"
CODE_MODEL = "claude-sonnet-5-5"
SSE_BODY_BYTES = 90 * 1024
BIG_BODY_BYTES = 1024 * 1024
TOOL_NAMES = (
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "Read",
    "Edit",
    "Write",
    "NotebookEdit",
    "WebFetch",
    "TodoWrite",
    "WebSearch",
    "BashOutput",
)
_SENTENCES = (
    "Prefer editing existing files to creating new ones.",
    "Run the project's own test command before you say a change is done.",
    "Keep answers short and refer to code as path:line so the user can open it.",
    "Never commit unless the user asks you to; never push to a shared branch.",
    "When a command fails, read its output before trying something else.",
    "Use the dedicated tools for files instead of shell commands like cat or sed.",
)
_EPHEMERAL = {"type": "ephemeral"}


def prose(length: int, seed: int = 0) -> str:
    """Deterministic instruction-like text of exactly ``length`` characters."""
    parts: list[str] = []
    size = 0
    index = seed
    while size < length:
        sentence = f"{index}. {_SENTENCES[index % len(_SENTENCES)]} "
        parts.append(sentence)
        size += len(sentence)
        index += 1
    return "".join(parts)[:length]


def _tool(name: str, number: int) -> dict[str, object]:
    properties = {
        f"{name.lower()}_arg_{i}": {
            "type": "string" if i % 3 else "number",
            "description": prose(120, seed=number * 10 + i),
        }
        for i in range(6)
    }
    return {
        "name": name,
        "description": prose(1800, seed=number * 100),
        "input_schema": {
            "type": "object",
            "properties": properties,
            "required": sorted(properties)[:2],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def _conversation() -> list[dict[str, object]]:
    return [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "<system-reminder>" + prose(3000, 7) + "</system-reminder>",
                },
                {"type": "text", "text": "The proxy test fails on streaming; find out why."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "I'll look at the failing test first."},
                {
                    "type": "tool_use",
                    "id": "toolu_bench_01",
                    "name": "Read",
                    "input": {"file_path": "/work/main/tests/test_proxy.py"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_bench_01",
                    "content": prose(6000, 11),
                    "cache_control": _EPHEMERAL,
                }
            ],
        },
    ]


def _code_request(system_text: str) -> dict[str, object]:
    return {
        "model": CODE_MODEL,
        "max_tokens": 32000,
        "messages": _conversation(),
        "temperature": 1,
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": _EPHEMERAL,
            },
            {"type": "text", "text": system_text, "cache_control": _EPHEMERAL},
        ],
        "tools": [_tool(name, number) for number, name in enumerate(TOOL_NAMES)],
        "metadata": {"user_id": "user_" + "5e" * 32 + "_account__session_bench"},
        "stream": True,
    }


def sse_body() -> bytes:
    """The Claude Code-shaped streaming request, padded to ``SSE_BODY_BYTES`` via ``system``."""
    base = len(orjson.dumps(_code_request("")))
    return orjson.dumps(_code_request(prose(SSE_BODY_BYTES - base, seed=3)))


def json_body() -> bytes:
    """A small non-streaming request."""
    return orjson.dumps(
        {
            "model": SMALL_MODEL,
            "max_tokens": 512,
            "messages": [{"role": "user", "content": prose(180, seed=5)}],
            "stream": False,
        }
    )


def big_body() -> bytes:
    """A non-streaming request of exactly ``BIG_BODY_BYTES``."""

    def request(text: str) -> dict[str, object]:
        return {
            "model": CODE_MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": text}],
        }

    base = len(orjson.dumps(request("")))
    return orjson.dumps(request(prose(BIG_BODY_BYTES - base, seed=1)))


def chat_body() -> bytes:
    """An OpenAI-shaped streaming request about as large as ``sse``."""

    def request(text: str) -> dict[str, object]:
        return {
            "model": "gpt-4o",
            "max_tokens": 1024,
            "messages": [
                {"role": "system", "content": text},
                {"role": "user", "content": prose(400, seed=7)},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    base = len(orjson.dumps(request("")))
    return orjson.dumps(request(prose(SSE_BODY_BYTES - base, seed=3)))


def responses_body() -> bytes:
    """An OpenAI Responses streaming request about as large as ``sse`` (Codex's route)."""

    def request(text: str) -> dict[str, object]:
        return {
            "model": "gpt-4o",
            "instructions": text,
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": prose(400, seed=7)}],
                }
            ],
            "max_output_tokens": 1024,
            "stream": True,
            "store": False,
        }

    base = len(orjson.dumps(request("")))
    return orjson.dumps(request(prose(SSE_BODY_BYTES - base, seed=3)))


BODIES: dict[str, Callable[[], bytes]] = {
    "json": json_body,
    "sse": sse_body,
    "big": big_body,
    "chat": chat_body,
    "responses": responses_body,
}
STREAMING = {"sse"}
# Cases only the router can serve, and the path each is sent to (others: /v1/messages).
ROUTER_ONLY = {"chat", "responses"}
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
# Claude Code's requests carry these betas; the other cases send no anthropic-beta header.
ANTHROPIC_BETA = {"sse": "claude-code-20250219,interleaved-thinking-2025-05-14"}


def write_bodies(directory: Path, cases: list[str]) -> dict[str, Path]:
    """Write each case's body to ``directory``; return the files by case name."""
    files: dict[str, Path] = {}
    for case in cases:
        path = directory / f"body-{case}.json"
        path.write_bytes(BODIES[case]())
        files[case] = path
    return files
