"""The pooled HTTP client to the upstream (Anthropic), and its errors translated.

One ``aiohttp.ClientSession`` per worker, opened in the app's start-up and closed at shutdown.
It relays bytes as they are: no automatic decompression, no headers of its own (no default
``User-Agent``, ``Accept`` or ``Content-Type``), no total-duration timeout (a long generation is
never cut; only silence longer than the idle timeout is).

Requests in flight are bounded (``UPSTREAM_MAX_CONNECTIONS``); a request that finds them all taken
waits at most ``UPSTREAM_POOL_TIMEOUT_S`` and then gets a clear 503, never an endless queue.

This is the proxy's seam: anything with ``send`` and ``close`` can stand in for it.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from link_assistant_router.errors import UpstreamBusy, UpstreamTimeout, UpstreamUnreachable

__all__ = ["Upstream", "UpstreamClient"]

# Headers aiohttp would otherwise invent; the client's own (if any) are forwarded instead.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_SKIPPED: CIMultiDict[None] = CIMultiDict((name, None) for name in _NO_AUTO_HEADERS)


class Upstream(Protocol):
    async def send(
        self, method: str, target: str, headers: CIMultiDict[str], body: bytes | None
    ) -> aiohttp.ClientResponse:
        """Send a request; return once the response's status and headers have arrived."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class _AsSent(aiohttp.ClientRequest):
    """A request with the headers it was given and none of aiohttp's defaults. aiohttp would
    build its list of headers not to add, and a copy of the request's headers, for every
    request (``skip_auto_headers``); the list is always the same here, so it is made once."""

    def update_auto_headers(self, skip_auto_headers: Any) -> None:
        self._skip_auto_headers = _SKIPPED


class _SlotResponse(aiohttp.ClientResponse):
    """A response that gives its request's slot back once: when its body has been read to
    the end, or when it is released or closed, whichever comes first."""

    _give_back: Callable[[], None] | None = None

    def _slot_done(self) -> None:
        give_back, self._give_back = self._give_back, None
        if give_back is not None:
            give_back()

    def _response_eof(self) -> None:
        super()._response_eof()
        self._slot_done()

    def close(self) -> None:
        super().close()
        self._slot_done()

    def release(self) -> Any:
        done = super().release()
        self._slot_done()
        return done

    def __del__(self, _warnings: Any = warnings) -> None:
        # A response nobody closed must not hold its slot forever.
        self._slot_done()
        super().__del__(_warnings)


class UpstreamClient:
    """The real upstream: a keep-alive pool to ``base_url``, at most ``max_connections``
    requests in flight. A request that finds them all taken waits up to ``pool_timeout_s`` for
    one, then fails with ``UpstreamBusy`` (503 with ``retry-after``)."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        idle_timeout_s: float,
        max_connections: int,
        pool_timeout_s: float = 10.0,
        on_busy: Callable[[], None] = lambda: None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_connections = max_connections
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._pool_timeout_s = pool_timeout_s
        self._on_busy = on_busy
        self._slots = asyncio.Semaphore(max_connections)
        self.in_flight = 0  # requests holding a slot now
        self.waiting = 0  # requests waiting for one
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the connection pool (inside the running event loop)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self.max_connections, ttl_dns_cache=300, keepalive_timeout=15
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._connect_timeout_s, sock_read=self._idle_timeout_s
            ),
            auto_decompress=False,
            request_class=_AsSent,
            response_class=_SlotResponse,
            skip_auto_headers=_NO_AUTO_HEADERS,
            # One session serves every client: a cookie the upstream sets for one of them must
            # never ride along on another's request. Set-Cookie still reaches the client.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def send(
        self, method: str, target: str, headers: CIMultiDict[str], body: bytes | None
    ) -> aiohttp.ClientResponse:
        """``target`` is the raw path and query (already percent-encoded) to append to the base."""
        if self._session is None:
            raise RuntimeError("UpstreamClient.open() was not awaited")
        url = URL(self.base_url + target, encoded=True)
        await self._take_slot()
        try:
            response = await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            )
        except BaseException as exc:
            self._give_slot()
            translated = self._translated(exc, url)
            if translated is exc:
                raise
            raise translated from exc
        if isinstance(response, _SlotResponse) and not response.closed:
            response._give_back = self._give_slot
        else:  # answered whole already (no body to read), or not ours: the slot is free
            self._give_slot()
        return response

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free now: no wait, no timer
        else:
            self.waiting += 1
            try:
                async with asyncio.timeout(self._pool_timeout_s):
                    await self._slots.acquire()
            except TimeoutError as exc:
                self._on_busy()
                raise UpstreamBusy(
                    f"the router has {self.max_connections} requests in flight to the "
                    f"upstream (UPSTREAM_MAX_CONNECTIONS) and none ended within "
                    f"{self._pool_timeout_s:g} s (UPSTREAM_POOL_TIMEOUT_S); try again shortly"
                ) from exc
            finally:
                self.waiting -= 1
        self.in_flight += 1

    def _give_slot(self) -> None:
        self.in_flight -= 1
        self._slots.release()

    def _translated(self, exc: BaseException, url: URL) -> BaseException:
        """The router's error for what sending raised (anything else, as it is)."""
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return UpstreamTimeout(
                f"connecting to the upstream timed out after {self._connect_timeout_s:g} s"
            )
        if isinstance(exc, TimeoutError | aiohttp.SocketTimeoutError):
            return UpstreamTimeout(
                f"the upstream sent no response within {self._idle_timeout_s:g} s"
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            return UpstreamUnreachable(
                f"cannot connect to the upstream at {url.host}:{url.port}: {reason}"
            )
        if isinstance(exc, aiohttp.ClientError | OSError):
            return UpstreamUnreachable(
                f"the upstream closed the connection before answering ({type(exc).__name__})"
            )
        return exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
