"""The floor for a Python proxy: a bare aiohttp pass-through (the benchmark's ``aiohttp`` target).

What the router does minus everything the router adds: no keys, no accounts, no failover, no
log line. The same stack (aiohttp server and client on uvloop, ``handler_cancellation``), the same
relaying (small bodies whole, streams as they arrive). The router's cost over this target is the
cost of its features; this target's cost over nginx is the cost of Python and aiohttp.

    python bench/bare_proxy.py --port 8002 --upstream http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import uvloop
from aiohttp import web

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date", "server"}
)


def _copy(headers: aiohttp.typedefs.LooseHeaders) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}  # type: ignore[union-attr]


async def serve(host: str, port: int, upstream: str) -> None:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),
    )

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with session.request(
            request.method, upstream + request.raw_path, data=body, headers=_copy(request.headers)
        ) as answer:
            headers = _copy(answer.headers)
            if answer.content_length is not None:
                return web.Response(status=answer.status, body=await answer.read(), headers=headers)
            response = web.StreamResponse(status=answer.status, headers=headers)
            try:
                await response.prepare(request)
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:
                pass  # the client left (wrk stops mid-stream): as the router, not an error
            return response

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:8001")
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
