"""Routes are registered once, with a name and traits that the error boundary and the metrics
read: adding a route takes one ``Route``, not edits in three places."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from link_assistant_router.boundary import error_boundary
from link_assistant_router.errors import InvalidRequest
from link_assistant_router.requestlog import REQUEST_FINISHED, RequestLog
from link_assistant_router.routes import Route, add_routes


async def refuse(request: web.Request) -> web.StreamResponse:
    raise InvalidRequest("no")


async def ok(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[RequestLog]]]:
    finished: list[RequestLog] = []
    app = web.Application(middlewares=[error_boundary])
    app[REQUEST_FINISHED] = finished.append
    add_routes(
        app,
        [
            Route("POST", "/new/openai", refuse, "new_openai", errors="openai"),
            Route("POST", "/new/anthropic", refuse, "new_anthropic"),
            Route("GET", "/new/both", refuse, "new_both", errors="openai_unless_anthropic"),
            Route("GET", "/new/quiet", ok, "new_quiet", logged=False),
        ],
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", finished
    await runner.cleanup()


async def body(http: aiohttp.ClientSession, method: str, url: str, **headers: str) -> object:
    async with http.request(method, url, headers=headers) as response:
        assert response.status == 400
        return await response.json()


async def test_a_route_s_error_shape_is_its_own_trait(
    served: tuple[str, list[RequestLog]],
) -> None:
    url, _ = served
    async with aiohttp.ClientSession() as http:
        openai = await body(http, "POST", url + "/new/openai")
        anthropic = await body(http, "POST", url + "/new/anthropic")
        both_openai = await body(http, "GET", url + "/new/both")
        both_anthropic = await body(
            http, "GET", url + "/new/both", **{"anthropic-version": "2023-06-01"}
        )
    assert (
        openai
        == both_openai
        == {
            "error": {"message": "no", "type": "invalid_request_error", "param": None, "code": None}
        }
    )
    for answer in (anthropic, both_anthropic):
        assert isinstance(answer, dict)
        assert answer["type"] == "error"
        assert answer["error"] == {"type": "invalid_request_error", "message": "no"}


async def test_requests_carry_their_route_s_name_and_quiet_routes_are_neither_logged_nor_counted(
    served: tuple[str, list[RequestLog]], caplog: pytest.LogCaptureFixture
) -> None:
    url, finished = served
    caplog.set_level(logging.INFO, logger="link_assistant_router.access")
    async with aiohttp.ClientSession() as http:
        for path in ("/new/openai", "/new/quiet", "/not/a/route"):
            async with http.request("POST" if "new/o" in path else "GET", url + path):
                pass
        async with http.head(url + "/new/quiet") as response:  # GET routes answer HEAD
            assert response.status == 200
    assert [entry.route for entry in finished] == ["new_openai", "other"]
    assert "/new/quiet" not in caplog.text
    assert "/new/openai" in caplog.text
