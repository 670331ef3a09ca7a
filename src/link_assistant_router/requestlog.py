"""One log line per request: who, what, how it went, how long it took. Nothing secret.

The error boundary creates a ``RequestLog`` for every request and emits it when the request
ends; handlers fill in what they learn (the key, the upstream's status) along the way.
"""

from __future__ import annotations

import logging
import os
import time

from aiohttp import web

log = logging.getLogger("link_assistant_router.access")


def new_request_id() -> str:
    """An id for one request through the router, sent in ``request-id`` on its own errors."""
    return "req_lar_" + os.urandom(12).hex()


class RequestLog:
    __slots__ = (
        "account",
        "attempts",
        "bytes_in",
        "bytes_out",
        "key_id",
        "key_label",
        "method",
        "outcome",
        "path",
        "request_id",
        "started",
        "status",
        "ttfb",
        "upstream_request_id",
        "upstream_status",
    )

    def __init__(self, method: str, path: str) -> None:
        self.request_id = new_request_id()
        self.method = method
        self.path = path
        self.started = time.perf_counter()
        self.key_id: str | None = None
        self.key_label: str | None = None
        self.status: int | None = None
        self.upstream_status: int | None = None
        self.upstream_request_id: str | None = None
        self.ttfb: float | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.outcome = "ok"
        self.account: str | None = None
        self.attempts = 0

    def mark_first_byte(self) -> None:
        self.ttfb = time.perf_counter() - self.started

    def emit(self) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        duration_ms = (time.perf_counter() - self.started) * 1000
        ttfb_ms = f"{self.ttfb * 1000:.1f}" if self.ttfb is not None else "-"
        level = logging.INFO if self.outcome == "ok" else logging.WARNING
        log.log(
            level,
            "%s %s %s status=%s upstream=%s ttfb_ms=%s duration_ms=%.1f in=%d out=%d "
            "key=%s label=%r account=%s attempts=%d outcome=%s upstream_id=%s",
            self.request_id,
            self.method,
            self.path,
            self.status if self.status is not None else "-",
            self.upstream_status if self.upstream_status is not None else "-",
            ttfb_ms,
            duration_ms,
            self.bytes_in,
            self.bytes_out,
            self.key_id or "-",
            self.key_label or "",
            self.account or "-",
            self.attempts,
            self.outcome,
            self.upstream_request_id or "-",
            extra={
                "request_id": self.request_id,
                "method": self.method,
                "path": self.path,
                "status": self.status,
                "upstream_status": self.upstream_status,
                "ttfb_ms": None if self.ttfb is None else round(self.ttfb * 1000, 2),
                "duration_ms": round(duration_ms, 2),
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "key_id": self.key_id,
                "key_label": self.key_label,
                "account": self.account,
                "attempts": self.attempts,
                "outcome": self.outcome,
                "upstream_request_id": self.upstream_request_id,
            },
        )


REQUEST_LOG = web.RequestKey("request_log", RequestLog)
