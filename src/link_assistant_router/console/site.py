"""``Console``: the web console put together: its pages' routes, its static files, its error
page and its response headers. ``app.py`` builds one and calls ``setup`` and ``routes``.

Nothing here is on the proxy's path: the console's routes read the store and the router's parts
like the admin API does, and add their headers to their own answers (no hook on other routes).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import replace
from importlib import resources

import aiohttp_jinja2
import jinja2
from aiohttp import web

from link_assistant_router.boundary import HTML_ERRORS
from link_assistant_router.console.accounts import AccountPages
from link_assistant_router.console.formatting import FILTERS
from link_assistant_router.console.guard import (
    Viewer,
    add_security_headers,
    with_security_headers,
)
from link_assistant_router.console.holder import HolderPage
from link_assistant_router.console.keys import KeyPages
from link_assistant_router.console.kit import GUARD, Parts
from link_assistant_router.console.overview import Overview
from link_assistant_router.console.reports import Reports
from link_assistant_router.console.signin import SignIn
from link_assistant_router.routes import Route

__all__ = ["Console"]

_PACKAGE = "link_assistant_router.console"
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".txt": "text/plain",
    ".json": "application/json",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file under ``static/``, by its path there: its bytes and content type."""
    found: dict[str, tuple[bytes, str]] = {}
    root = resources.files(_PACKAGE) / "static"
    folders = [("", root)]
    while folders:
        prefix, folder = folders.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                folders.append((f"{prefix}{entry.name}/", entry))
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0] or "text/plain"
            found[prefix + entry.name] = (entry.read_bytes(), kind)
    return found


class Console:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._static = _static_files()
        # A fingerprint of every file: asset links change when the files do (cache-busting).
        digest = hashlib.sha256()
        for name in sorted(self._static):
            digest.update(name.encode() + self._static[name][0])
        self._version = digest.hexdigest()[:12]

    def setup(self, app: web.Application) -> None:
        """Templates, the error page, the response headers."""
        env = aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader(_PACKAGE, "templates"),
            autoescape=True,
            filters=FILTERS,  # type: ignore[arg-type]
        )
        env.globals["asset"] = lambda name: f"/console/static/{name}?v={self._version}"
        env.globals["needs_sign_in"] = self._parts.guard.needs_sign_in
        env.globals["admin_port"] = self._parts.settings.admin_port
        app[GUARD] = self._parts.guard
        app[HTML_ERRORS] = self._error_page

    def routes(self) -> list[Route]:
        parts = self._parts
        routes = [
            Route("GET", "/console/static/{name:.+}", self.static, "console_static", "html", False),
            *SignIn(parts).routes(),
            *Overview(parts).routes(),
            *KeyPages(parts).routes(),
            *AccountPages(parts).routes(),
            *Reports(parts).routes(),
            *HolderPage(parts).routes(),
        ]
        return [replace(route, handler=with_security_headers(route.handler)) for route in routes]

    async def static(self, request: web.Request) -> web.Response:
        found = self._static.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(
            body=body, content_type=kind, headers={"Cache-Control": "public, max-age=86400"}
        )

    def _error_page(
        self, request: web.Request, status: int, message: str, request_id: str
    ) -> web.Response:
        context = {
            "status": status,
            "message": message,
            "request_id": request_id,
            "viewer": Viewer(csrf=""),
            "csrf": "",
            "nav": (),
            "here": request.path,
        }
        response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
        add_security_headers(response)
        return response
