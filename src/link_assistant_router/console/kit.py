"""What every console page stands on: the router's parts it reads, and drawing a page for a
viewer (the shared context, the CSRF cookie a form needs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.admin.accounts import AccountAdmin
from link_assistant_router.config import Settings
from link_assistant_router.console.guard import Guard, Viewer
from link_assistant_router.console.sessions import CSRF_COOKIE
from link_assistant_router.governance.audit import AuditLog
from link_assistant_router.governance.governor import Governor
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.metrics import Metrics
from link_assistant_router.proxy.upstream import Upstream
from link_assistant_router.storage.base import Store

__all__ = ["GUARD", "OPERATOR_PAGES", "Parts", "page", "public_url", "snippets"]

# The operator's pages, in the navigation's order: (path, title).
OPERATOR_PAGES = (
    ("/console/", "Overview"),
    ("/console/keys", "Keys"),
    ("/console/accounts", "Accounts"),
    ("/console/usage", "Usage"),
    ("/console/requests", "Requests"),
    ("/console/audit", "Audit"),
    ("/console/settings", "Settings"),
)


@dataclass(frozen=True)
class Parts:
    """The router's parts the console reads and acts through (never the proxy)."""

    settings: Settings
    store: Store
    keys: KeyService
    pool: AccountPool
    accounts: AccountAdmin
    upstream: Upstream
    governor: Governor
    metrics: Metrics
    audit: AuditLog
    guard: Guard


def page(
    request: web.Request,
    viewer: Viewer,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> web.Response:
    """A page drawn for ``viewer``, with what every page shows (navigation, who is signed in,
    the forms' CSRF token)."""
    shared = {
        "viewer": viewer,
        "csrf": viewer.csrf,
        "nav": OPERATOR_PAGES if viewer.actor is not None else (),
        "here": request.path,
    }
    response = aiohttp_jinja2.render_template(template, request, shared | context, status=status)
    if viewer.new_cookie is not None:
        guard: Guard = request.app[GUARD]
        guard.sessions.cookies.set(request, response, CSRF_COOKIE, viewer.new_cookie, "/")
    return response


GUARD = web.AppKey("console_guard", Guard)


def public_url(request: web.Request, settings: Settings) -> str:
    """Where clients reach the router: ``PUBLIC_URL``, else the browser's address (with
    ``ROUTER_PORT`` when the page came through the admin listener)."""
    if settings.public_url:
        return settings.public_url
    url = request.url.origin()
    if settings.admin_port and url.port == settings.admin_port:
        url = url.with_port(settings.router_port)
    return str(url)


def snippets(base_url: str, key: str) -> list[tuple[str, str]]:
    """Set-up for Claude Code, the Anthropic SDK and the OpenAI SDK: (title, text)."""
    return [
        (
            "Claude Code",
            f"export ANTHROPIC_BASE_URL={base_url}\nexport ANTHROPIC_API_KEY={key}\nclaude",
        ),
        (
            "Anthropic SDK (Python)",
            "import anthropic\n\n"
            f'client = anthropic.Anthropic(base_url="{base_url}", api_key="{key}")',
        ),
        (
            "OpenAI SDK (Python)",
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base_url}/v1", api_key="{key}")',
        ),
    ]
