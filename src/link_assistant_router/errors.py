"""The router's own errors.

Everything the gateway decides by itself is one of these; errors from aiohttp, PyJWT,
SQLAlchemy and the file system are translated where they happen (``raise X from exc``),
and ``app.py`` turns a ``RouterError`` into an HTTP response in exactly one place.

    RouterError                      (500 api_error)
    ├── ConfigError                  bad settings; refused at start-up, never an HTTP answer
    ├── InvalidRequest               400 invalid_request_error
    ├── AuthenticationFailed         401 authentication_error (missing, malformed, forged, expired)
    ├── PermissionDenied             403 permission_error (revoked key, admin API refused)
    ├── NotFound                     404 not_found_error
    ├── RequestTooLarge              413 request_too_large
    ├── StoreError                   503 api_error (the store is unreachable or failed)
    │   └── StoreRejected            the data can never be written as it is (no retry)
    ├── RateLimited                  429 rate_limit_error: a key's rate, concurrency or budget
    │   └── NoAccountAvailable       429: every account is cooling down
    └── UpstreamError                502 api_error
        ├── NoCredential             502: no upstream credential is loaded
        ├── NeedsLogin               502: an account's login is dead (invalid_grant, org disabled)
        ├── RefreshUnavailable       502: the OAuth token endpoint failed; worth retrying later
        ├── UpstreamUnreachable      502: connecting to the upstream failed
        └── UpstreamTimeout          504 timeout_error

Upstream *responses*, errors included, are never turned into these: they pass through as sent.
"""

from __future__ import annotations

import math

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "InvalidRequest",
    "NeedsLogin",
    "NoAccountAvailable",
    "NoCredential",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RefreshUnavailable",
    "RequestTooLarge",
    "RouterError",
    "StoreError",
    "StoreRejected",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnreachable",
]


class RouterError(Exception):
    """Base of every error the router raises on purpose."""

    status = 500
    error_type = "api_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        """Headers the error response carries besides the request id."""
        return {}


class ConfigError(RouterError):
    """The settings cannot work (a placeholder secret, an unusable URL, ...)."""


class InvalidRequest(RouterError):
    status = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(RouterError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(RouterError):
    status = 403
    error_type = "permission_error"


class NotFound(RouterError):
    status = 404
    error_type = "not_found_error"


class RequestTooLarge(RouterError):
    status = 413
    error_type = "request_too_large"


class StoreError(RouterError):
    """The store could not be reached or a query failed."""

    status = 503

    def headers(self) -> dict[str, str]:
        return {"retry-after": "5"}


class StoreRejected(StoreError):
    """The store refused the data itself (it can never be written as it is): not worth a retry."""


class RateLimited(RouterError):
    """A limit says not now; ``retry_after`` says for how long (``extra``: more headers)."""

    status = 429
    error_type = "rate_limit_error"

    def __init__(
        self, message: str, retry_after: float, extra: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extra = extra or {}

    def headers(self) -> dict[str, str]:
        return {**self.extra, "retry-after": str(max(1, math.ceil(self.retry_after)))}


class NoAccountAvailable(RateLimited):
    """Every account that could serve is cooling down; ``retry_after`` says for how long."""


class UpstreamError(RouterError):
    status = 502
    error_type = "api_error"


class NoCredential(UpstreamError):
    """No upstream credential is loaded (missing or corrupt Claude Code login, ...)."""


class NeedsLogin(UpstreamError):
    """A person must act: the refresh token was refused, or the organization disallows OAuth."""


class RefreshUnavailable(UpstreamError):
    """The OAuth token endpoint could not be reached or failed; a later attempt may succeed."""


class UpstreamUnreachable(UpstreamError):
    """The upstream could not be connected to, or it dropped the connection before answering."""


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "timeout_error"
