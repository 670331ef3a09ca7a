"""Which conversation a request belongs to: the key that pins it to one account (REFERENCE §8).

Prompt caches live in the organization that served them, so a conversation that moves to
another account loses its cache. ``session_key`` names the conversation, surest source first:

1. the ``X-Claude-Code-Session-Id`` header (Claude Code sends it)          -> ``cc:<id>``
2. the ``session_id`` in the body's ``metadata.user_id``                     -> ``user:<id>``
3. a hash of the system prompt and the first user message's content       -> ``hash:<32 hex>``

The hash stays the same for every turn of a conversation: later turns append messages but keep
the system prompt and the first user message. ``cache_control`` markers are left out of it,
because clients move their breakpoints to the newest turn.

Runs on every request, so it is cheap: the header needs no parsing, the body is parsed once
(never changed) and only the two parts are serialized for the hash. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["HASH_HEX_CHARS", "SESSION_HEADER", "session_key"]

SESSION_HEADER = "x-claude-code-session-id"
HASH_HEX_CHARS = 32
# Identifiers that are not short, plain tokens are hashed: keys must fit the store's column
# (200 characters) and stay printable in logs.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The older metadata.user_id: user_<hash>_account_<uuid>_session_<uuid>.
_LEGACY_SESSION = re.compile(r"_session_([A-Za-z0-9-]+)\Z")


def session_key(headers: Mapping[str, str], body: bytes | None) -> str | None:
    """The sticky-session key of a request, or None when it names no conversation.

    ``cc:`` + the ``X-Claude-Code-Session-Id`` header (matched case-insensitively); else
    ``user:`` + the session id in ``metadata.user_id`` (a JSON object in a string, or the older
    ``user_..._session_<uuid>`` form); else ``hash:`` + 32 hex digits of the SHA-256 of the
    canonical JSON of ``system`` and the first user message's content. None when the body is not
    a JSON object or has none of these.
    """
    header = _header(headers, SESSION_HEADER)
    if header is not None and header.strip():
        return _key("cc:", header.strip())
    if not body:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    session = _metadata_session(document.get("metadata"))
    if session is not None:
        return _key("user:", session)
    return _conversation_hash(document)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lowercase name, from a case-insensitive mapping or a plain one."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _key(prefix: str, identifier: str) -> str:
    if _PLAIN_ID.fullmatch(identifier):
        return prefix + identifier
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}sha256-{digest[:HASH_HEX_CHARS]}"


def _metadata_session(metadata: Any) -> str | None:
    """The session id in ``metadata.user_id``, if it holds one."""
    if not isinstance(metadata, dict):
        return None
    user_id = metadata.get("user_id")
    if isinstance(user_id, str):
        text = user_id.strip()
        if text.startswith("{"):
            try:
                user_id = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
        else:
            match = _LEGACY_SESSION.search(text)
            return match.group(1) if match else None
    if isinstance(user_id, dict):
        session = user_id.get("session_id")
        if isinstance(session, str) and session.strip():
            return session.strip()
    return None


def _conversation_hash(document: dict[str, Any]) -> str | None:
    system = document.get("system") or None
    first = _first_user_content(document.get("messages")) or None
    if system is None and first is None:
        return None
    canonical = orjson.dumps(
        [_without_cache_control(system), _without_cache_control(first)],
        option=orjson.OPT_SORT_KEYS,
    )
    return "hash:" + hashlib.sha256(canonical).hexdigest()[:HASH_HEX_CHARS]


def _first_user_content(messages: Any) -> Any:
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and message.get("role") == "user":
                return message.get("content")
    return None


def _without_cache_control(content: Any) -> Any:
    """Content blocks without ``cache_control``, on them and on the blocks a block holds
    (``tool_result``); two levels, which is where the API accepts the marker."""
    if not isinstance(content, list):
        return content
    blocks = []
    for block in content:
        if isinstance(block, dict):
            block = {k: v for k, v in block.items() if k != "cache_control"}
            inner = block.get("content")
            if isinstance(inner, list):
                block["content"] = [
                    {k: v for k, v in item.items() if k != "cache_control"}
                    if isinstance(item, dict)
                    else item
                    for item in inner
                ]
        blocks.append(block)
    return blocks
