"""Anthropic's OAuth token endpoint: trading a refresh token for a new access/refresh pair.

This module is the boundary where the endpoint's answers become the router's errors:

- the login was refused (HTTP 400, 401 or 403, or an ``invalid_grant`` error in any answer) →
  ``NeedsLogin``: terminal, a person must log in again;
- anything that may go away by itself (429, 5xx, other statuses, a connection error, a timeout,
  an answer that is not the JSON we expect) → ``RefreshUnavailable``.

Refresh tokens are single-use: a successful answer has already spent the one we sent, so the
caller must save the returned pair before doing anything else with it (see ``refresher.py``).
Error messages never contain a token or the endpoint's body; at most its OAuth ``error`` code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from link_assistant_router.errors import NeedsLogin, RefreshUnavailable

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "LOGIN_REFUSED_STATUSES",
    "RELOGIN_ADVICE",
    "OAuthClient",
    "TokenGrant",
]

DEFAULT_TIMEOUT_S = 30.0
LOGIN_REFUSED_STATUSES = frozenset({400, 401, 403})
RELOGIN_ADVICE = (
    "a person must log in again: run `claude`, then `/login`, with that Claude Code home "
    "(or issue a new `claude setup-token` token)"
)
# Only an error code that looks like one (``invalid_grant``, RFC 6749 §5.2) is repeated in our
# messages: never a token or free text that the endpoint might echo.
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A new access/refresh pair from the token endpoint. The tokens stay out of ``repr``."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    """When the access token expires, in epoch seconds."""
    token_type: str | None = None
    scopes: tuple[str, ...] = ()
    account_uuid: str | None = None
    organization_uuid: str | None = None
    organization_name: str | None = None

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], *, now: float, previous_refresh_token: str
    ) -> TokenGrant:
        """The grant in a successful answer; ``RefreshUnavailable`` when it is not one.

        An answer without a new ``refresh_token`` keeps the previous one (RFC 6749 §6).
        """
        access = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access, str) or not access:
            raise RefreshUnavailable("the OAuth token endpoint answered without an access_token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise RefreshUnavailable("the OAuth token endpoint answered without expires_in")
        refresh = _text(body.get("refresh_token")) or previous_refresh_token
        scope = body.get("scope")
        account = body.get("account")
        organization = body.get("organization")
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=now + float(expires_in),
            token_type=_text(body.get("token_type")),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
            account_uuid=_text(account.get("uuid")) if isinstance(account, dict) else None,
            organization_uuid=(
                _text(organization.get("uuid")) if isinstance(organization, dict) else None
            ),
            organization_name=(
                _text(organization.get("name")) if isinstance(organization, dict) else None
            ),
        )


class OAuthClient:
    """Refreshes Claude Code logins at ``token_url`` (REFERENCE §4) over a shared aiohttp session.

    The session belongs to the caller, who opens and closes it.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: str,
        client_id: str,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._session = session
        self._token_url = token_url
        self._client_id = client_id
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """Spend ``refresh_token`` on a new pair.

        ``NeedsLogin`` when the endpoint refuses the login, ``RefreshUnavailable`` when it cannot
        answer now. Either way the refresh token may be spent: never retry with it in a loop.
        """
        payload = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self._client_id,
        }
        try:
            async with self._session.post(
                self._token_url,
                json=payload,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError as exc:
            raise RefreshUnavailable("the OAuth token endpoint did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise RefreshUnavailable(
                f"cannot reach the OAuth token endpoint ({type(exc).__name__})"
            ) from exc
        body = _json_object(raw)
        error_code = _error_code(body)
        if status in LOGIN_REFUSED_STATUSES or error_code == "invalid_grant":
            raise NeedsLogin(
                f"the OAuth token endpoint refused the login (HTTP {status}"
                f"{', ' + error_code if error_code else ''}); {RELOGIN_ADVICE}"
            )
        if status != 200:
            raise RefreshUnavailable(_unavailable_message(status, error_code))
        if body is None:
            raise RefreshUnavailable("the OAuth token endpoint answered 200 without a JSON object")
        return TokenGrant.from_response(
            body, now=self._clock(), previous_refresh_token=refresh_token
        )


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _error_code(body: Mapping[str, Any] | None) -> str | None:
    """The OAuth ``error`` code of an answer (``{"error": "invalid_grant", ...}``), if sane."""
    if body is None:
        return None
    error = body.get("error")
    if isinstance(error, dict):  # Anthropic API shape: {"error": {"type": ..., "message": ...}}
        error = error.get("type")
    if isinstance(error, str) and _ERROR_CODE.match(error):
        return error
    return None


def _unavailable_message(status: int, error_code: str | None) -> str:
    detail = f"HTTP {status}{', ' + error_code if error_code else ''}"
    if status in (404, 405):
        return (
            f"the OAuth token endpoint answered {detail}: check OAUTH_TOKEN_URL "
            "(the endpoint has moved before)"
        )
    return f"the OAuth token endpoint failed ({detail}); will retry later"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
