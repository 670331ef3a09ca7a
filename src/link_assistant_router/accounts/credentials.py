"""The upstream credential: read from a Claude Code login, or given as an API key / OAuth token.

A Claude Code home holds ``.credentials.json`` shaped ``{"claudeAiOauth": {"accessToken": ...,
"refreshToken": ..., "expiresAt": <ms>, ...}}``; older layouts keep a flat ``accessToken`` (or
``access_token``, ``oauthToken``, ``oauth_token``) in one of several file names, searched in the
order of ``CANDIDATE_FILES``. The home is re-read when a file changes (checked at most once a
second), so a local ``claude`` that refreshes its login is picked up without a restart. A missing
or corrupt file is an explained ``NoCredential``, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from link_assistant_router.config import Settings
from link_assistant_router.errors import NoCredential
from link_assistant_router.times import iso

__all__ = [
    "API_KEY_PREFIX",
    "CANDIDATE_FILES",
    "FLAT_TOKEN_FIELDS",
    "RECHECK_INTERVAL_S",
    "ClaudeCodeHomeSource",
    "Credential",
    "CredentialKind",
    "CredentialSource",
    "StaticCredentialSource",
    "credential_source",
    "fingerprint",
    "parse_credentials",
]

log = logging.getLogger(__name__)

CANDIDATE_FILES = (
    "credentials.json",
    ".credentials.json",
    "auth.json",
    "oauth.json",
    "config.json",
)
FLAT_TOKEN_FIELDS = ("accessToken", "access_token", "oauthToken", "oauth_token")
API_KEY_PREFIX = "sk-ant-api"
RECHECK_INTERVAL_S = 1.0

CredentialKind = Literal["oauth", "api_key"]


@dataclass(frozen=True, slots=True)
class Credential:
    """What the router presents upstream. Secret fields stay out of ``repr``."""

    kind: CredentialKind
    token: str = field(repr=False)
    source: str
    expires_at: float | None = None
    refresh_token: str | None = field(default=None, repr=False)
    subscription_type: str | None = None
    rate_limit_tier: str | None = None

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def describe(self, now: float) -> dict[str, Any]:
        """What may be shown about this credential: never the token."""
        return {
            "kind": self.kind,
            "source": self.source,
            "subscription_type": self.subscription_type,
            "rate_limit_tier": self.rate_limit_tier,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "expired": self.is_expired(now),
            "refreshable": self.refresh_token is not None,
        }


def fingerprint(token: str) -> str:
    """A short, one-way tag for a token: tells whether a login changed, reveals nothing."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _kind_of(token: str) -> CredentialKind:
    return "api_key" if token.startswith(API_KEY_PREFIX) else "oauth"


def _epoch_seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # Claude Code writes milliseconds; accept seconds from hand-written files too.
    return value / 1000 if value > 1e11 else float(value)


def parse_credentials(data: bytes, source: str) -> Credential | None:
    """The credential in one file's bytes.

    None when the file is valid JSON but holds no token (e.g. an unrelated ``config.json``);
    ``NoCredential`` when it is corrupt. Messages name the file, never its contents.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f" ({exc.msg} at line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        )
        raise NoCredential(f"{source} is not valid JSON{where}") from exc
    if not isinstance(document, dict):
        raise NoCredential(f"{source} is not a JSON object")
    nested = document.get("claudeAiOauth")
    if nested is not None:
        if not isinstance(nested, dict):
            raise NoCredential(f"{source}: claudeAiOauth is not an object")
        token = nested.get("accessToken")
        if not isinstance(token, str) or not token:
            raise NoCredential(f"{source}: claudeAiOauth has no accessToken")
        refresh = nested.get("refreshToken")
        return Credential(
            kind=_kind_of(token),
            token=token,
            source=source,
            expires_at=_epoch_seconds(nested.get("expiresAt")),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            subscription_type=_str_or_none(nested.get("subscriptionType")),
            rate_limit_tier=_str_or_none(nested.get("rateLimitTier")),
        )
    for name in FLAT_TOKEN_FIELDS:
        token = document.get(name)
        if isinstance(token, str) and token:
            refresh = document.get("refreshToken") or document.get("refresh_token")
            return Credential(
                kind=_kind_of(token),
                token=token,
                source=source,
                expires_at=_epoch_seconds(document.get("expiresAt") or document.get("expires_at")),
                refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                subscription_type=_str_or_none(document.get("subscriptionType")),
            )
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class CredentialSource(Protocol):
    """Where the current upstream credential comes from."""

    def current(self) -> Credential:
        """The credential to use now, or ``NoCredential`` explaining why there is none."""

    def describe(self) -> dict[str, Any]:
        """Where it looks and what it found, for /ready and ``doctor``: never a token."""


class StaticCredentialSource:
    """A credential given in the settings (UPSTREAM_API_KEY or UPSTREAM_OAUTH_TOKEN)."""

    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    def current(self) -> Credential:
        return self._credential

    def describe(self) -> dict[str, Any]:
        return {"source": self._credential.source, "status": "loaded"}


class ClaudeCodeHomeSource:
    """The login a Claude Code installation keeps in its config directory, watched for changes."""

    def __init__(self, home: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.home = home
        self._clock = clock
        self._checked_at = float("-inf")
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._credential: Credential | None = None
        self._problem = "not read yet"

    def current(self) -> Credential:
        now = self._clock()
        if now - self._checked_at >= RECHECK_INTERVAL_S:
            self._checked_at = now
            self._reload_if_changed()
        if self._credential is None:
            raise NoCredential(self._problem)
        return self._credential

    def reload(self) -> Credential:
        """Re-read the home now (after the router or someone else rewrote the login)."""
        self._checked_at = self._clock()
        self._signature = None
        self._reload_if_changed()
        if self._credential is None:
            raise NoCredential(self._problem)
        return self._credential

    def describe(self) -> dict[str, Any]:
        try:
            credential = self.current()
        except NoCredential as exc:
            return {"source": str(self.home), "status": "missing", "reason": exc.message}
        return {"source": credential.source, "status": "loaded"}

    def _stat_candidates(self) -> tuple[tuple[str, int, int], ...]:
        found = []
        for name in CANDIDATE_FILES:
            try:
                info = os.stat(self.home / name)
            except OSError:
                continue
            found.append((name, info.st_mtime_ns, info.st_size))
        return tuple(found)

    def _reload_if_changed(self) -> None:
        signature = self._stat_candidates()
        if signature == self._signature:
            return
        self._signature = signature
        previous = self._credential
        self._credential, self._problem = self._load(signature)
        if self._credential is None:
            log.error("no upstream credential: %s", self._problem)
        elif previous is None or previous.token != self._credential.token:
            loaded = self._credential
            log.info(
                "upstream credential loaded from %s (kind=%s subscription=%s expires=%s)",
                loaded.source,
                loaded.kind,
                loaded.subscription_type or "-",
                iso(loaded.expires_at) if loaded.expires_at else "-",
            )

    def _load(self, signature: tuple[tuple[str, int, int], ...]) -> tuple[Credential | None, str]:
        problems = []
        for name, _mtime, _size in signature:
            path = self.home / name
            try:
                credential = parse_credentials(path.read_bytes(), str(path))
            except NoCredential as exc:
                problems.append(exc.message)
                continue
            except OSError as exc:
                problems.append(f"cannot read {path}: {exc.strerror}")
                continue
            if credential is not None:
                for problem in problems:
                    log.warning("skipped %s", problem)
                return credential, ""
        if not problems:
            problems.append(
                f"no Claude Code login in {self.home} (looked for {', '.join(CANDIDATE_FILES)})"
            )
        advice = (
            "; log in with `claude` (then /login) using that config directory, or set "
            "UPSTREAM_API_KEY or UPSTREAM_OAUTH_TOKEN; `link-assistant-router doctor` shows details"
        )
        return None, "; ".join(problems) + advice


def credential_source(settings: Settings) -> CredentialSource:
    """An explicit key or token from the settings wins over the Claude Code home."""
    if settings.upstream_api_key is not None:
        return StaticCredentialSource(
            Credential(
                kind="api_key",
                token=settings.upstream_api_key.get_secret_value(),
                source="UPSTREAM_API_KEY",
            )
        )
    if settings.upstream_oauth_token is not None:
        return StaticCredentialSource(
            Credential(
                kind="oauth",
                token=settings.upstream_oauth_token.get_secret_value(),
                source="UPSTREAM_OAUTH_TOKEN",
            )
        )
    return ClaudeCodeHomeSource(settings.claude_code_home)
