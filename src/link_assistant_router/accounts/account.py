"""Upstream accounts: what each one is, and the state every worker and replica agrees on.

An account is a credential source plus a state:

- ``ready``: may serve.
- ``cooling_down``: spent or overloaded until ``cooldown_until``; ready again by itself after it.
- ``needs_login``: a person must act (the refresh token was refused, the organization disallows
  OAuth, the login file is missing or corrupt). It clears by itself when the login changes
  (someone ran ``claude /login``), which is noticed by comparing a fingerprint of the token.
- ``disabled``: taken out of rotation by the operator.

Accounts come from the settings (``CLAUDE_CODE_HOME``, ``ADDITIONAL_ACCOUNT_DIRS``,
``UPSTREAM_API_KEY``, ``UPSTREAM_OAUTH_TOKEN``) or were added at run time (stored, their secrets
encrypted). The pool (``pool.py``) decides which may serve; this module only describes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from link_assistant_router.accounts.credentials import (
    CANDIDATE_FILES,
    ClaudeCodeHomeSource,
    Credential,
    CredentialSource,
    StaticCredentialSource,
    fingerprint,
)
from link_assistant_router.accounts.health import QuotaSnapshot
from link_assistant_router.accounts.vault import Vault
from link_assistant_router.config import Settings
from link_assistant_router.errors import InvalidRequest, NoCredential
from link_assistant_router.storage.records import AccountRecord, AccountStateRecord
from link_assistant_router.times import iso, iso_or_none

__all__ = [
    "COOLING_DOWN",
    "DISABLED",
    "KINDS",
    "MAX_NAME_CHARS",
    "NEEDS_LOGIN",
    "PRIMARY",
    "READY",
    "Account",
    "AccountKind",
    "settings_accounts",
    "stored_account",
    "validate_name",
]

AccountKind = Literal["claude-code", "oauth-token", "api-key"]
KINDS: tuple[AccountKind, ...] = ("claude-code", "oauth-token", "api-key")
READY, COOLING_DOWN, NEEDS_LOGIN, DISABLED = "ready", "cooling_down", "needs_login", "disabled"
PRIMARY = "primary"
MAX_NAME_CHARS = 100


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("an account needs a name")
    text: str = name.strip()
    if len(text) > MAX_NAME_CHARS or not all(c.isalnum() or c in "-_." for c in text):
        raise InvalidRequest(
            f"account names use letters, digits, '-', '_' and '.', at most {MAX_NAME_CHARS}"
        )
    return text


@dataclass(eq=False)
class Account:
    """One upstream account and its live state."""

    name: str
    kind: AccountKind
    source: CredentialSource
    priority: int = 0
    weight: int = 1
    group: str | None = None
    origin: Literal["settings", "store"] = "settings"
    state: str = READY
    reason: str | None = None
    cooldown_until: float | None = None
    login_fingerprint: str | None = None
    quota: QuotaSnapshot | None = None
    quota_dirty: bool = False
    requests: int = 0
    unsaved_requests: int = 0
    last_error: str | None = None
    updated_at: float = 0.0
    home: Path | None = field(default=None, repr=False)

    def credential(self) -> Credential:
        """The credential to present now (``NoCredential`` if the login is missing or corrupt)."""
        return self.source.current()

    def is_available(self, now: float) -> bool:
        return self.unavailable_reason(now) is None

    def unavailable_reason(self, now: float) -> str | None:
        """None when the account may serve now; else why not, in words an operator can act on."""
        if self.state == DISABLED:
            return "disabled by the operator"
        try:
            credential = self.credential()
        except NoCredential as exc:
            return exc.message
        if self.state == NEEDS_LOGIN:
            if self.login_fingerprint is not None and (
                fingerprint(credential.token) != self.login_fingerprint
            ):
                return None  # the login changed since it failed: worth trying again
            return self.reason or "needs a new login"
        if self.state == COOLING_DOWN and self.cooldown_until and self.cooldown_until > now:
            return f"cooling down until {iso(self.cooldown_until)}"
        refreshable = self.kind == "claude-code" and credential.refresh_token is not None
        if credential.is_expired(now) and not refreshable:
            return (
                f"the token expired at {iso_or_none(credential.expires_at)} and cannot be refreshed"
            )
        return None

    def state_record(self, now: float) -> AccountStateRecord:
        return AccountStateRecord(
            name=self.name,
            state=self.state,
            reason=self.reason,
            cooldown_until=self.cooldown_until,
            login_fingerprint=self.login_fingerprint,
            quota=self.quota_json(),
            requests=self.requests,
            last_error=self.last_error,
            updated_at=now,
        )

    def adopt(self, record: AccountStateRecord) -> None:
        """Take the shared state written by this or another process."""
        self.state = record.state
        self.reason = record.reason
        self.cooldown_until = record.cooldown_until
        self.login_fingerprint = record.login_fingerprint
        self.requests = record.requests
        self.last_error = record.last_error
        self.updated_at = record.updated_at
        if record.quota and not self.quota_dirty:
            self.quota = QuotaSnapshot.from_json(record.quota)

    def quota_json(self) -> str | None:
        return orjson.dumps(self.quota.to_json()).decode() if self.quota else None

    def describe(self, now: float) -> dict[str, Any]:
        """The account as /v1/accounts and ``accounts list`` show it: never a token."""
        why = self.unavailable_reason(now)
        state = self.state
        if why is None:
            state = READY
        elif state == READY:
            state = NEEDS_LOGIN  # the login is missing or unreadable
        credential: Credential | None
        try:
            credential = self.credential()
        except NoCredential:
            credential = None
        windows = self.quota.windows if self.quota else {}
        return {
            "name": self.name,
            "kind": self.kind,
            "origin": self.origin,
            "priority": self.priority,
            "weight": self.weight,
            "group": self.group,
            "state": state,
            "reason": why,
            "cooldown_until": iso_or_none(self.cooldown_until) if state == COOLING_DOWN else None,
            "utilization_5h": windows["5h"].utilization if "5h" in windows else None,
            "reset_5h": iso_or_none(windows["5h"].reset) if "5h" in windows else None,
            "utilization_7d": windows["7d"].utilization if "7d" in windows else None,
            "reset_7d": iso_or_none(windows["7d"].reset) if "7d" in windows else None,
            "token_expires_at": iso_or_none(credential.expires_at) if credential else None,
            "subscription_type": credential.subscription_type if credential else None,
            "source": credential.source if credential else str(self.home or ""),
            "requests": self.requests + self.unsaved_requests,
            "last_error": self.last_error,
            "what_to_do": _advice(self) if state == NEEDS_LOGIN else None,
        }


def _advice(account: Account) -> str:
    if account.kind == "claude-code":
        return (
            f"log in again: run `claude` with CLAUDE_CONFIG_DIR={account.home} and use /login "
            "(the router picks the new login up by itself)"
        )
    if account.kind == "oauth-token":
        return "create a new token with `claude setup-token` and replace this account's token"
    return "replace this account's API key"


def settings_accounts(settings: Settings) -> list[Account]:
    """The accounts the settings describe, with stable names (state and bindings use them)."""
    found: list[Account] = []
    explicit = settings.upstream_api_key is not None or settings.upstream_oauth_token is not None
    primary = settings.claude_code_home
    if not explicit or any((primary / name).exists() for name in CANDIDATE_FILES):
        found.append(_claude_code(PRIMARY, primary))
    taken = {PRIMARY}
    for home in settings.extra_claude_homes:
        name = _unique(f"claude-{home.name or 'home'}", taken)
        found.append(_claude_code(name, home))
    if settings.upstream_oauth_token is not None:
        found.append(
            _static(
                "oauth-token",
                "oauth-token",
                settings.upstream_oauth_token.get_secret_value(),
                "UPSTREAM_OAUTH_TOKEN",
            )
        )
    if settings.upstream_api_key is not None:
        found.append(
            _static(
                "api-key",
                "api-key",
                settings.upstream_api_key.get_secret_value(),
                "UPSTREAM_API_KEY",
            )
        )
    return found


def stored_account(record: AccountRecord, vault: Vault) -> Account:
    """An account added at run time, its secret decrypted."""
    if record.kind == "claude-code":
        account = _claude_code(record.name, Path(record.claude_home or ""))
    else:
        kind: AccountKind = "api-key" if record.kind == "api-key" else "oauth-token"
        secret = vault.decrypt(record.secret or "")
        account = _static(record.name, kind, secret, f"account {record.name}")
    account.priority, account.weight, account.group = record.priority, record.weight, record.group
    account.origin = "store"
    return account


def _claude_code(name: str, home: Path) -> Account:
    return Account(name=name, kind="claude-code", source=ClaudeCodeHomeSource(home), home=home)


def _static(name: str, kind: AccountKind, token: str, source: str) -> Account:
    credential = Credential(
        kind="api_key" if kind == "api-key" else "oauth", token=token, source=source
    )
    return Account(name=name, kind=kind, source=StaticCredentialSource(credential))


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    taken.add(candidate)
    return candidate
