"""One record per request: who, what, how it went, how long it took, the tokens it used; one
log line made of it. Nothing secret.

The error boundary creates a ``RequestLog`` for every request and emits it when the request
ends; handlers fill in what they learn (the key, the upstream's status) along the way.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

__all__ = [
    "REQUEST_FINISHED",
    "REQUEST_LOG",
    "USAGE_FIELDS",
    "Outcome",
    "RequestLog",
    "Usage",
    "clean_text",
    "new_request_id",
]

log = logging.getLogger("link_assistant_router.access")

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
SERVER_TOOL_FIELDS = ("web_search_requests", "web_fetch_requests")
_ALL_COUNTS = (*USAGE_FIELDS, "cache_creation_1h_input_tokens", *SERVER_TOOL_FIELDS)


@dataclass(slots=True)
class Usage:
    """What one answer used: Anthropic's four token counts; of the cache writes, those kept for
    an hour (``cache_creation.ephemeral_1h_input_tokens``; the rest are 5-minute writes); and
    the server tools it ran (``server_tool_use``)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0

    def update(self, counts: object) -> None:
        """Overwrite the counts that ``counts`` (a ``usage`` object) carries as integers."""
        if not isinstance(counts, dict):
            return
        # ``__class__ is int``: a JSON integer, never a bool; cheaper than two isinstance calls.
        for name in USAGE_FIELDS:
            value = counts.get(name)
            if value.__class__ is int and value >= 0:
                setattr(self, name, value)
        creation = counts.get("cache_creation")
        if creation.__class__ is dict:
            hour = creation.get("ephemeral_1h_input_tokens")
            if hour.__class__ is int and hour >= 0:
                self.cache_creation_1h_input_tokens = hour
        tools = counts.get("server_tool_use")
        if tools.__class__ is dict:
            for name in SERVER_TOOL_FIELDS:
                value = tools.get(name)
                if value.__class__ is int and value >= 0:
                    setattr(self, name, value)

    def cache_creation_5m_input_tokens(self) -> int:
        """The cache writes kept for five minutes: those not kept for an hour."""
        return self.cache_creation_input_tokens - min(
            self.cache_creation_1h_input_tokens, self.cache_creation_input_tokens
        )

    def add(self, other: Usage) -> None:
        """Add ``other``'s counts to these (for totals of several answers)."""
        for name in _ALL_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


class Outcome:
    """How a request ended: the ``outcome`` of its log line, its usage ledger row's
    ``error_type`` (none when OK) and the ``outcome`` label of ``lar_requests_total``.

    A request the router answered with an error of its own (``errors.py``) ends with that
    error's type, as the answer names it: ``invalid_request_error``, ``authentication_error``,
    ``permission_error``, ``not_found_error``, ``request_too_large``, ``rate_limit_error``,
    ``api_error``, ``timeout_error``.
    """

    OK = "ok"
    """The answer reached the client whole: the upstream's own errors, passed on, included."""
    CLIENT_DISCONNECTED = "client_disconnected"
    """The client left before the answer ended."""
    UPSTREAM_DROPPED = "upstream_dropped"
    """The upstream broke the connection after its answer began."""
    UPSTREAM_TIMEOUT = "upstream_timeout"
    """The upstream fell silent for longer than ``UPSTREAM_IDLE_TIMEOUT_S`` after its answer
    began."""
    INTERNAL_ERROR = "internal_error"
    """The router failed (a bug): the client got a 500."""


def clean_text(value: str) -> str:
    """``value`` as text any log, metric or database can hold: a byte that was not UTF-8 (which
    aiohttp keeps as a lone surrogate) becomes U+FFFD, and NUL characters are dropped."""
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that was not a byte aiohttp escaped
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "")


def new_request_id() -> str:
    """An id for one request through the router, sent in ``request-id`` on its own errors."""
    return "req_lar_" + os.urandom(12).hex()


class RequestLog:
    __slots__ = (
        "account",
        "attempts",
        "bytes_in",
        "bytes_out",
        "client",
        "duration_ms",
        "key_id",
        "key_label",
        "method",
        "model",
        "outcome",
        "path",
        "rate_headers",
        "refused",
        "remote",
        "request_id",
        "route",
        "session",
        "started",
        "status",
        "tools_left_out",
        "ttfb",
        "upstream_request_id",
        "upstream_status",
        "usage",
        "usage_complete",
    )

    def __init__(self, method: str, path: str) -> None:
        self.request_id = new_request_id()
        self.method = method
        self.path = path
        self.route = "other"  # the matched route's name (``routes.Route.name``)
        self.started = time.perf_counter()
        self.key_id: str | None = None
        self.key_label: str | None = None
        self.status: int | None = None
        self.upstream_status: int | None = None
        self.upstream_request_id: str | None = None
        self.ttfb: float | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.outcome = Outcome.OK
        self.account: str | None = None
        self.attempts = 0
        self.duration_ms = 0.0
        # Filled by the proxy and the translated routes: what the ledger and metrics record.
        # ``client`` is the raw user-agent here; the ledger keeps its product name.
        self.model: str | None = None
        self.session: str | None = None
        self.client: str | None = None
        self.usage: Usage | None = None
        self.usage_complete = True
        self.remote: str | None = None
        # The field a request the router refused (400) was refused for, and the client's tools
        # a translated request left out (UNSUPPORTED_TOOLS=drop): said on the log line.
        self.refused: str | None = None
        self.tools_left_out: tuple[str, ...] = ()
        # The key's own rate-limit headers, set when its budgets were checked (None: the key
        # has none, and its answers keep the upstream's).
        self.rate_headers: list[tuple[str, str]] | None = None

    def mark_first_byte(self) -> None:
        self.ttfb = time.perf_counter() - self.started

    def emit(self) -> None:
        """Log the request's line: INFO when it went well, WARNING otherwise.

        The text line is built here in one go; the JSON formatter takes the same values from
        ``fields()`` (the record carries this object as ``request``), so neither format pays
        for the other.
        """
        level = logging.INFO if self.outcome == Outcome.OK else logging.WARNING
        if not log.isEnabledFor(level):
            return
        self.duration_ms = (time.perf_counter() - self.started) * 1000
        ttfb = f"{self.ttfb * 1000:.1f}" if self.ttfb is not None else "-"
        message = (
            f"{self.request_id} {self.method} {self.path}"
            f" status={'-' if self.status is None else self.status}"
            f" upstream={'-' if self.upstream_status is None else self.upstream_status}"
            f" ttfb_ms={ttfb} duration_ms={self.duration_ms:.1f}"
            f" in={self.bytes_in} out={self.bytes_out} key={self.key_id or '-'}"
            f" label={self.key_label or ''!r} account={self.account or '-'}"
            f" attempts={self.attempts} outcome={self.outcome}"
            f" upstream_id={self.upstream_request_id or '-'}"
        )
        if self.refused is not None:
            message += f" refused={self.refused!r}"
        if self.tools_left_out:
            message += f" tools_left_out={','.join(self.tools_left_out)!r}"
        # The router's own handler alone (``logs.LineHandler``): the line is written from this
        # record without a ``LogRecord``; anything else (tests' capture, an embedding app's
        # handlers) gets the record.
        handlers = logging.root.handlers
        if len(handlers) == 1 and not log.handlers and not handlers[0].filters:
            access = getattr(handlers[0], "access", None)
            if access is not None:
                access(level, log.name, self, message)
                return
        log.log(level, message, extra={"request": self})

    def fields(self) -> dict[str, object]:
        """The line's values by name, for structured (JSON) logs."""
        return {
            "request_id": self.request_id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "upstream_status": self.upstream_status,
            "ttfb_ms": None if self.ttfb is None else round(self.ttfb * 1000, 2),
            "duration_ms": round(self.duration_ms, 2),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "key_id": self.key_id,
            "key_label": self.key_label,
            "account": self.account,
            "attempts": self.attempts,
            "outcome": self.outcome,
            "upstream_request_id": self.upstream_request_id,
            "refused": self.refused,
            "tools_left_out": list(self.tools_left_out),
        }


REQUEST_LOG = web.RequestKey("request_log", RequestLog)
# What the app does with each finished request after its line is logged (the usage ledger).
REQUEST_FINISHED: web.AppKey[Callable[[RequestLog], None]] = web.AppKey("request_finished")
