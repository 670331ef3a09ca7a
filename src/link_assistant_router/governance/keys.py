"""``la_sk_`` keys: mint, verify, revoke.

A key is ``la_sk_`` followed by an HS256 JWT with the claims ``sub`` (the key's id, a uuid4),
``iat``, ``exp`` and ``label``. The store keeps the id and the key's metadata, never the key.
Verification is pinned to HS256 and checks the signature, the expiry and the store's revocation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from link_assistant_router.config import Settings
from link_assistant_router.errors import (
    AuthenticationFailed,
    ConfigError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    StoreError,
)
from link_assistant_router.governance.audit import Actor, AuditLog
from link_assistant_router.limits import parse_limits
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.times import iso

__all__ = [
    "ALGORITHM",
    "KEY_PREFIX",
    "MAX_LABEL_CHARS",
    "MAX_TTL_HOURS",
    "STALE_RECORD_S",
    "IssuedKey",
    "KeyService",
    "load_signing_secret",
    "validate_issue_request",
]

log = logging.getLogger(__name__)

KEY_PREFIX = "la_sk_"
ALGORITHM = "HS256"
MAX_TTL_HOURS = 24 * 366 * 10
MAX_LABEL_CHARS = 200
_SECRET_FILE = "token_secret"  # noqa: S105 (a file name, not a secret)
_VERIFIED_CACHE_MAX = 10_000
# While the store is unavailable, a key's record read this recently still serves.
STALE_RECORD_S = 3600.0


def load_signing_secret(settings: Settings) -> bytes:
    """TOKEN_SECRET if set; else the secret kept in DATA_DIR, generated there on first use."""
    if settings.token_secret is not None:
        return settings.token_secret.get_secret_value().encode()
    path = settings.data_dir / _SECRET_FILE
    try:
        return _read_secret_file(path)
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return _read_secret_file(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(generated + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.warning(
        "TOKEN_SECRET is not set: generated one and stored it in %s (mode 0600). "
        "Keys stay valid as long as that file does; back it up or set TOKEN_SECRET.",
        path,
    )
    return generated.encode()


def _read_secret_file(path: Path) -> bytes:
    value = path.read_text(encoding="utf-8").strip()
    if len(value) < 16:
        raise ConfigError(f"{path} holds no usable secret; delete it to have a new one generated")
    return value.encode()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly minted key: the only moment the key itself exists outside the client."""

    token: str
    record: KeyRecord


def validate_issue_request(ttl_hours: Any, label: Any) -> tuple[float, str]:
    """Check the values of an issue request, in terms a user can act on."""
    if isinstance(ttl_hours, bool) or not isinstance(ttl_hours, int | float):
        raise InvalidRequest("ttl_hours must be a number of hours")
    if not 0 < ttl_hours <= MAX_TTL_HOURS:
        raise InvalidRequest(f"ttl_hours must be greater than 0 and at most {MAX_TTL_HOURS}")
    if not isinstance(label, str):
        raise InvalidRequest("label must be a string")
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidRequest(f"label must be at most {MAX_LABEL_CHARS} characters")
    if "\x00" in label:
        raise InvalidRequest("label must not contain NUL characters")
    return float(ttl_hours), label


def _is_time(value: Any) -> bool:
    """A UNIX time as a signed claim may carry one: a finite number, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _expired(at: float) -> AuthenticationFailed:
    return AuthenticationFailed(f"la_sk_ key expired at {iso(at)}; ask for a new one")


class KeyService:
    """Issues and verifies keys; caches store lookups for ``cache_ttl_s`` seconds per worker."""

    def __init__(
        self,
        store: Store,
        secret: bytes,
        *,
        cache_ttl_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self._store = store
        self._audit = audit
        self._secret = secret
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._verified: dict[str, tuple[str, float]] = {}
        self._lookups: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._records: dict[str, tuple[KeyRecord, float]] = {}
        self._last_used: dict[str, float] = {}

    async def issue(
        self,
        ttl_hours: Any = 24,
        label: Any = "",
        *,
        account: str | None = None,
        group: str | None = None,
        limits: Any = None,
        actor: Actor | None = None,
    ) -> IssuedKey:
        """Mint a key (``account``/``group``: the accounts it may use; checked by the caller;
        ``limits``: a limits document, see ``limits.py``)."""
        ttl, label = validate_issue_request(ttl_hours, label)
        key_limits = parse_limits(limits) if limits is not None else None
        now = self._clock()
        record = KeyRecord(
            id=str(uuid.uuid4()),
            label=label,
            created_at=now,
            expires_at=now + ttl * 3600,
            account=account,
            group=group,
            limits=key_limits if key_limits is not None and not key_limits.is_empty() else None,
        )
        claims = {
            "sub": record.id,
            "iat": int(now),
            "exp": int(record.expires_at),
            "label": label,
        }
        token = KEY_PREFIX + jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        await self._store.insert_key(record)
        details = {"label": label, "ttl_hours": ttl, "account": account, "group": group}
        if record.limits is not None:
            details["limits"] = record.limits.to_dict()
        await self._audited("key.issue", record.id, actor, details)
        return IssuedKey(token=token, record=record)

    def verify_signature(self, token: str) -> str | None:
        """The key id of a valid, unexpired ``la_sk_`` token.

        None when the token is not one of ours (no prefix); ``AuthenticationFailed`` when it
        is ours but malformed, forged or expired.
        """
        if not token.startswith(KEY_PREFIX):
            return None
        now = self._clock()
        cached = self._verified.get(token)
        if cached is not None:
            key_id, expires_at = cached
            if now < expires_at:
                return key_id
        try:
            claims = jwt.decode(
                token[len(KEY_PREFIX) :],
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat"], "verify_exp": False},
            )
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationFailed(
                "invalid la_sk_ key: the signature does not match (forged, or issued by a "
                "router with another TOKEN_SECRET)"
            ) from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationFailed("malformed la_sk_ key") from exc
        expires_at, key_id = claims["exp"], claims["sub"]
        if not _is_time(expires_at) or not isinstance(key_id, str) or not key_id:
            raise AuthenticationFailed("malformed la_sk_ key")
        if now >= expires_at:
            raise AuthenticationFailed(
                f"la_sk_ key expired at {iso(expires_at)}; ask for a new one"
            )
        if len(self._verified) >= _VERIFIED_CACHE_MAX:
            self._verified.clear()
        self._verified[token] = (key_id, expires_at)
        return key_id

    async def authenticate(self, token: str | None) -> KeyRecord:
        """The record of the key a client presented, or an error saying what is wrong with it."""
        if not token:
            raise AuthenticationFailed(
                "missing key: send your la_sk_ key as x-api-key or Authorization: Bearer"
            )
        key_id = self.verify_signature(token)
        if key_id is None:
            raise AuthenticationFailed("invalid key: this router accepts only la_sk_ keys")
        record = self._usable(await self._record(key_id))
        self._last_used[key_id] = self._clock()
        return record

    async def still_valid(self, key_id: str) -> KeyRecord:
        """The record of a key known by its id (a console session's), or why it may no longer
        be used (unknown, revoked, expired); read as ``authenticate`` reads it, so a revocation
        made elsewhere counts within ``KEY_CACHE_TTL_S``."""
        return self._usable(await self._record(key_id))

    def _usable(self, record: KeyRecord | None) -> KeyRecord:
        if record is None:
            raise AuthenticationFailed("unknown la_sk_ key: it is not in this router's store")
        if record.revoked_at is not None:
            raise PermissionDenied("this la_sk_ key has been revoked")
        # The record's expiry is the one the operator sees and the key's claim can't outlive.
        if self._clock() >= record.expires_at:
            raise _expired(record.expires_at)
        return record

    async def _record(self, key_id: str) -> KeyRecord | None:
        now = self._clock()
        cached = self._records.get(key_id)
        if cached is not None and now - cached[1] < self._cache_ttl_s:
            return cached[0]
        # One lookup per key at a time: when a busy key's entry expires, every request in
        # flight would otherwise query the store at once (a stall in the latency tail).
        lookup = self._lookups.get(key_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._fetch(key_id, now))
            self._lookups[key_id] = lookup
            lookup.add_done_callback(functools.partial(self._lookup_done, key_id))
        # Shielded: a client that leaves does not cancel the lookup the others wait for.
        try:
            return await asyncio.shield(lookup)
        except StoreError as exc:
            # The store is away: a record seen lately still answers (a revocation seen before
            # the outage still holds); a key never seen cannot be checked.
            if cached is not None and now - cached[1] < STALE_RECORD_S:
                return cached[0]
            raise StoreError(
                "this key cannot be checked: the store is unavailable; try again shortly"
            ) from exc

    async def _fetch(self, key_id: str, now: float) -> KeyRecord | None:
        record = await self._store.get_key(key_id)
        if record is not None:
            self._records[key_id] = (record, now)
        return record

    def _lookup_done(self, key_id: str, lookup: asyncio.Future[KeyRecord | None]) -> None:
        if self._lookups.get(key_id) is lookup:
            del self._lookups[key_id]
        if not lookup.cancelled():
            lookup.exception()  # retrieved here, so an error nobody awaited is not reported

    async def get(self, key_id: str) -> KeyRecord:
        record = await self._store.get_key(key_id)
        if record is None:
            raise NotFound(f"no key with id {key_id!r}")
        return record

    async def list(self) -> list[KeyRecord]:
        return await self._store.list_keys()

    async def revoke(self, key_id: Any, actor: Actor | None = None) -> KeyRecord:
        if not isinstance(key_id, str) or not key_id:
            raise InvalidRequest("id must be the key's id (a string)")
        record = await self._store.revoke_key(key_id, self._clock())
        if record is None:
            raise NotFound(f"no key with id {key_id!r}")
        self._records.pop(key_id, None)
        log.info("key revoked: id=%s label=%r", record.id, record.label)
        await self._audited("key.revoke", record.id, actor, {"label": record.label})
        return record

    async def _audited(
        self, action: str, key_id: str, actor: Actor | None, details: dict[str, Any]
    ) -> None:
        if self._audit is not None and actor is not None:
            await self._audit.record(action, key_id, actor, details)

    async def update(
        self, key_id: Any, document: dict[str, Any], actor: Actor | None = None
    ) -> KeyRecord:
        """Change a key's label and limits: ``{"label": ..., "limits": {...} | null}``.

        Limits given are merged into the key's (a limit set to null is removed); ``"limits":
        null`` removes them all. Other workers see the change within ``KEY_CACHE_TTL_S``.
        """
        if not isinstance(key_id, str) or not key_id:
            raise InvalidRequest("id must be the key's id (a string)")
        unknown = set(document) - {"label", "limits"}
        if unknown:
            raise InvalidRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
        record = await self.get(key_id)
        label = None
        if "label" in document:
            _, label = validate_issue_request(1, document["label"])
        limits = record.limits
        if "limits" in document:
            given = document["limits"]
            limits = None if given is None else parse_limits(given, base=record.limits)
        if limits is not None and limits.is_empty():
            limits = None
        updated = await self._store.update_key(key_id, label=label, limits=limits)
        if updated is None:
            raise NotFound(f"no key with id {key_id!r}")
        self._records.pop(key_id, None)
        log.info("key updated: id=%s label=%r", updated.id, updated.label)
        await self._audited("key.update", key_id, actor, document)
        return updated

    async def flush_last_used(self) -> None:
        """Write the batched last-used times (called periodically and at shutdown)."""
        if not self._last_used:
            return
        batch, self._last_used = self._last_used, {}
        try:
            await self._store.touch_keys(batch)
        except StoreError:
            for key_id, at in batch.items():  # kept for the next flush
                self._last_used[key_id] = max(at, self._last_used.get(key_id, at))
            raise
