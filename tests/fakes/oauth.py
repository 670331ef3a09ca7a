"""A fake Anthropic OAuth token endpoint on 127.0.0.1, for refresh tests.

Like the real one (REFERENCE §4) it answers ``POST /v1/oauth/token`` with a new
``sk-ant-oat01-...`` / ``sk-ant-ort01-...`` pair, ``expires_in`` 28800, ``token_type``, ``scope``
and account/organization objects, and it ROTATES refresh tokens: each works once, and a used or
unknown one gets 400 ``invalid_grant``. Tests mint valid logins with ``issue_login``, read how
many calls arrived in ``calls`` (``called`` is set at each), and can make it fail
(``answer_with``, ``fail``) or answer slowly (``delay_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

TOKEN_PATH = "/v1/oauth/token"
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
EXPIRES_IN = 28800
# What a refused refresh says: tests check that none of it reaches our messages.
REFUSAL_DESCRIPTION = "Refresh token not found or invalid (fake-endpoint-detail-7f3a)"


@dataclass
class FakeTokenEndpoint:
    """State of the fake endpoint; ``url`` is the full token URL once it is running."""

    url: str = ""
    client_id: str = CLIENT_ID
    calls: int = 0
    delay_s: float = 0.0
    answer_with: tuple[int, bytes] | None = None
    """When set, every call gets this status and body instead of a grant."""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a call arrives (before any ``delay_s``)."""
    valid_refresh_tokens: set[str] = field(default_factory=set)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def issue_login(self) -> tuple[str, str]:
        """A new (access, refresh) pair whose refresh token the endpoint will accept once."""
        number = next(self._serial)
        access = f"sk-ant-oat01-fake{number:04d}-{secrets.token_urlsafe(24)}"
        refresh = f"sk-ant-ort01-fake{number:04d}-{secrets.token_urlsafe(24)}"
        self.valid_refresh_tokens.add(refresh)
        return access, refresh

    def fail(self, status: int, body: Any = None) -> None:
        """Answer every call with ``status`` (an Anthropic-shaped error body unless given)."""
        if body is None:
            body = {"type": "error", "error": {"type": "api_error", "message": "Internal error"}}
        self.answer_with = (status, body if isinstance(body, bytes) else orjson.dumps(body))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(TOKEN_PATH, self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        self.calls += 1
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = {}
        self.bodies.append(body)
        self.called.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.answer_with is not None:
            status, raw = self.answer_with
            return web.Response(status=status, body=raw, content_type="application/json")
        if body.get("grant_type") != "refresh_token" or body.get("client_id") != self.client_id:
            return _error(400, "invalid_request", "Invalid request format")
        refresh = body.get("refresh_token")
        if refresh not in self.valid_refresh_tokens:
            return _error(400, "invalid_grant", REFUSAL_DESCRIPTION)
        self.valid_refresh_tokens.discard(refresh)
        access, new_refresh = self.issue_login()
        return web.json_response(
            {
                "token_type": "Bearer",
                "access_token": access,
                "expires_in": EXPIRES_IN,
                "refresh_token": new_refresh,
                "scope": "user:inference user:profile",
                "organization": {"uuid": "org-fake-0001", "name": "Fake Organization"},
                "account": {"uuid": "acct-fake-0001", "email_address": "owner@example.com"},
            }
        )


def _error(status: int, code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


@contextlib.asynccontextmanager
async def running_fake_token_endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint()
    runner = web.AppRunner(fake.app(), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}{TOKEN_PATH}"
    try:
        yield fake
    finally:
        await runner.cleanup()
