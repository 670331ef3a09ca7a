"""The sticky-session key: which conversation a request belongs to (REFERENCE §8)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from link_assistant_router.proxy.sessions import session_key

SESSION = "7b0c3a52-4a43-4d5f-9e51-1c2b3d4e5f60"
OTHER_SESSION = "0e8f4c1a-9b2d-4e6f-8a7b-3c5d1e2f4a6b"
EPHEMERAL = {"type": "ephemeral"}

Message = dict[str, Any]


def user_id(session_id: str = SESSION) -> str:
    """``metadata.user_id`` as Claude Code sends it: a JSON object inside a string."""
    return orjson.dumps(
        {
            "device_id": "5f2c" * 16,
            "account_uuid": "a1b2c3d4-0000-4000-8000-123456789abc",
            "session_id": session_id,
        }
    ).decode()


def claude_code_body(messages: list[Message], *, metadata_user_id: str | None = None) -> bytes:
    """A body shaped like Claude Code's: system blocks with cache_control, tools, metadata."""
    document: dict[str, Any] = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": EPHEMERAL,
            },
            {
                "type": "text",
                "text": "You are an interactive CLI tool that helps users with software "
                "engineering tasks. " * 200,
                "cache_control": EPHEMERAL,
            },
        ],
        "tools": [
            {
                "name": name,
                "description": f"The {name} tool. " * 40,
                "input_schema": {
                    "type": "object",
                    "properties": {"command": {"type": "string"}},
                    "required": ["command"],
                    "additionalProperties": False,
                    "$schema": "http://json-schema.org/draft-07/schema#",
                },
            }
            for name in ("Bash", "Read", "Edit", "Write", "Glob", "Grep")
        ],
        "messages": messages,
        "metadata": {"user_id": metadata_user_id if metadata_user_id is not None else user_id()},
    }
    return orjson.dumps(document)


def sdk_body(messages: list[Message], system: Any = None) -> bytes:
    """A body as the anthropic SDK sends it: no metadata, maybe no system prompt."""
    document: dict[str, Any] = {"model": "claude-haiku-4-5", "max_tokens": 1024}
    if system is not None:
        document["system"] = system
    document["messages"] = messages
    return orjson.dumps(document)


def user(text: str, *, cached: bool = False) -> Message:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cached:
        block["cache_control"] = EPHEMERAL
    return {"role": "user", "content": [block]}


def assistant(text: str) -> Message:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def conversation(first: str, turns: int) -> list[Message]:
    """A conversation after ``turns`` turns, its cache breakpoint on the newest user message,
    as SDK clients and Claude Code place it."""
    messages = [user(first)]
    for turn in range(1, turns):
        messages += [assistant(f"answer {turn}"), user(f"follow-up {turn}")]
    last = messages[-1]["content"][-1]
    last["cache_control"] = EPHEMERAL
    return messages


def without_markers(content: Any) -> Any:
    if not isinstance(content, list):
        return content
    return [{k: v for k, v in block.items() if k != "cache_control"} for block in content]


def expected_hash(system: Any, first_content: Any) -> str:
    """The documented key: SHA-256 of the sorted-keys JSON of both, cache_control left out."""
    parts = [without_markers(system), without_markers(first_content)]
    canonical = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
    return "hash:" + hashlib.sha256(canonical).hexdigest()[:32]


# --- the Claude Code header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Claude-Code-Session-Id": SESSION},
        {"x-claude-code-session-id": SESSION},
        {"X-CLAUDE-CODE-SESSION-ID": f"  {SESSION} "},
        CIMultiDictProxy(CIMultiDict([("X-Claude-Code-Session-Id", SESSION)])),
    ],
    ids=["title case", "lowercase", "uppercase padded", "multidict"],
)
def test_header_gives_a_cc_key_whatever_its_case(headers: dict[str, str]) -> None:
    assert session_key(headers, claude_code_body([user("hi")])) == f"cc:{SESSION}"


def test_header_wins_over_metadata() -> None:
    body = claude_code_body([user("hi")], metadata_user_id=user_id(OTHER_SESSION))
    assert session_key({"X-Claude-Code-Session-Id": SESSION}, body) == f"cc:{SESSION}"


def test_header_needs_no_readable_body() -> None:
    assert session_key({"X-Claude-Code-Session-Id": SESSION}, b"{not json") == f"cc:{SESSION}"
    assert session_key({"X-Claude-Code-Session-Id": SESSION}, None) == f"cc:{SESSION}"


def test_blank_header_falls_back_to_metadata() -> None:
    body = claude_code_body([user("hi")])
    assert session_key({"X-Claude-Code-Session-Id": "  "}, body) == f"user:{SESSION}"


def test_an_unusual_header_value_is_hashed_to_a_bounded_key() -> None:
    value = "session with spaces/" + "é" * 500
    key = session_key({"X-Claude-Code-Session-Id": value}, None)
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    assert key == f"cc:sha256-{digest}"
    assert len(key) <= 200


# --- metadata.user_id ----------------------------------------------------------------------------


def test_metadata_user_id_json_string_gives_a_user_key() -> None:
    assert session_key({}, claude_code_body([user("hi")])) == f"user:{SESSION}"


def test_metadata_user_id_object_gives_a_user_key() -> None:
    body = orjson.dumps(
        {"messages": [user("hi")], "metadata": {"user_id": {"session_id": OTHER_SESSION}}}
    )
    assert session_key({}, body) == f"user:{OTHER_SESSION}"


def test_legacy_metadata_user_id_gives_its_session_uuid() -> None:
    legacy = f"user_{'ab12' * 16}_account_a1b2c3d4-0000-4000-8000-123456789abc_session_{SESSION}"
    body = claude_code_body([user("hi")], metadata_user_id=legacy)
    assert session_key({}, body) == f"user:{SESSION}"


@pytest.mark.parametrize(
    "metadata_user_id",
    [
        "customer-42",
        orjson.dumps({"device_id": "d", "account_uuid": "a"}).decode(),
        orjson.dumps({"session_id": ""}).decode(),
        orjson.dumps({"session_id": 7}).decode(),
        "{not json",
        "",
    ],
    ids=["plain user", "no session_id", "empty session_id", "number", "broken JSON", "empty"],
)
def test_metadata_without_a_session_falls_back_to_the_hash(metadata_user_id: str) -> None:
    body = claude_code_body([user("hi")], metadata_user_id=metadata_user_id)
    key = session_key({}, body)
    assert key is not None
    assert key.startswith("hash:")
    document = orjson.loads(body)
    assert key == expected_hash(document["system"], document["messages"][0]["content"])


# --- the hash of the system prompt and the first user message -------------------------------------


def test_sdk_body_gets_a_hash_of_system_and_first_user_content() -> None:
    body = sdk_body([user("Summarize this repository.")], system="You are terse.")
    assert session_key({}, body) == expected_hash(
        "You are terse.", [{"type": "text", "text": "Summarize this repository."}]
    )


def test_hash_key_is_32_hex_digits() -> None:
    key = session_key({}, sdk_body([{"role": "user", "content": "Hello"}]))
    assert key is not None
    prefix, _, digest = key.partition(":")
    assert prefix == "hash"
    assert len(digest) == 32
    assert int(digest, 16) >= 0


def test_string_system_and_string_content_are_hashed() -> None:
    body = sdk_body([{"role": "user", "content": "Hello"}], system="Be brief.")
    assert session_key({}, body) == expected_hash("Be brief.", "Hello")


def test_system_alone_or_first_message_alone_is_enough() -> None:
    assert session_key({}, sdk_body([], system="Be brief.")) == expected_hash("Be brief.", None)
    assert session_key({}, sdk_body([user("Hi")])) == expected_hash(
        None, [{"type": "text", "text": "Hi"}]
    )


def test_first_user_message_is_the_first_with_the_user_role() -> None:
    messages = [assistant("prefill?"), user("the question"), user("later")]
    assert session_key({}, sdk_body(messages)) == expected_hash(
        None, [{"type": "text", "text": "the question"}]
    )


def test_two_conversations_get_different_keys() -> None:
    first = session_key({}, sdk_body(conversation("Fix the failing test.", 1), system="S"))
    second = session_key({}, sdk_body(conversation("Write a README.", 1), system="S"))
    other_system = session_key({}, sdk_body(conversation("Fix the failing test.", 1), system="T"))
    assert len({first, second, other_system}) == 3


def test_later_turns_of_one_conversation_keep_the_key() -> None:
    keys = {
        session_key({}, sdk_body(conversation("Fix the failing test.", turns), system="S"))
        for turns in range(1, 21)
    }
    assert len(keys) == 1
    assert keys.pop() is not None


def test_later_turns_of_a_claude_code_body_without_session_keep_the_hash() -> None:
    no_session = "customer-42"
    turn_1 = claude_code_body([user("Explain main.py", cached=True)], metadata_user_id=no_session)
    messages = [user("Explain main.py"), assistant("It starts the app."), user("And app.py?")]
    messages[-1]["content"][-1]["cache_control"] = EPHEMERAL
    turn_2 = claude_code_body(messages, metadata_user_id=no_session)
    assert session_key({}, turn_1) == session_key({}, turn_2)


def test_moving_cache_control_in_tool_results_keeps_the_hash() -> None:
    def first_message(cached: bool) -> Message:
        inner: dict[str, Any] = {"type": "text", "text": "file contents"}
        if cached:
            inner["cache_control"] = EPHEMERAL
        return {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [inner]}],
        }

    with_marker = sdk_body([first_message(True)], system="S")
    without_marker = sdk_body([first_message(False)], system="S")
    assert session_key({}, with_marker) == session_key({}, without_marker)


def test_key_order_inside_blocks_does_not_change_the_hash() -> None:
    one = b'{"system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":"x"}]}'
    two = b'{"messages":[{"content":"x","role":"user"}],"system":[{"text":"S","type":"text"}]}'
    assert session_key({}, one) == session_key({}, two)


def test_hash_depends_only_on_system_and_first_user_content() -> None:
    base: dict[str, Any] = {"system": "S", "messages": [user("Hi")]}
    changed = {**base, "model": "other", "tools": [{"name": "T"}], "max_tokens": 5}
    assert session_key({}, orjson.dumps(base)) == session_key({}, orjson.dumps(changed))


# --- no key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[1, 2, 3]",
        b'"a string"',
        b"{}",
        b'{"model": "claude-haiku-4-5", "messages": []}',
        b'{"system": "", "messages": [{"role": "assistant", "content": "x"}]}',
        b'{"messages": "not a list", "metadata": "not an object"}',
    ],
    ids=[
        "none",
        "empty",
        "invalid JSON",
        "not UTF-8",
        "array",
        "string",
        "empty object",
        "no messages",
        "no user message",
        "wrong shapes",
    ],
)
def test_no_key_without_a_conversation(body: bytes | None) -> None:
    assert session_key({"content-type": "application/json"}, body) is None


def test_cache_control_on_the_system_prompt_does_not_change_the_hash() -> None:
    marked = [{"type": "text", "text": "S", "cache_control": EPHEMERAL}]
    plain = [{"type": "text", "text": "S"}]
    messages = [user("Hi")]
    assert session_key({}, sdk_body(messages, system=marked)) == session_key(
        {}, sdk_body(messages, system=plain)
    )
