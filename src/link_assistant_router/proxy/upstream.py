"""The pooled HTTP client to the upstream (Anthropic), and its errors translated.

One ``aiohttp.ClientSession`` per worker, opened in the app's start-up and closed at shutdown.
It relays bytes as they are: no automatic decompression, no headers of its own (no default
``User-Agent``, ``Accept`` or ``Content-Type``), no total-duration timeout (a long generation is
never cut; only silence longer than the idle timeout is).

This is the proxy's seam: anything with ``send`` and ``close`` can stand in for it.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from link_assistant_router.errors import UpstreamTimeout, UpstreamUnreachable

__all__ = ["Upstream", "UpstreamClient"]

# Headers aiohttp would otherwise invent; the client's own (if any) are forwarded instead.
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class Upstream(Protocol):
    async def send(
        self, method: str, target: str, headers: CIMultiDict[str], body: bytes | None
    ) -> aiohttp.ClientResponse:
        """Send a request; return once the response's status and headers have arrived."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class UpstreamClient:
    """The real upstream: a keep-alive pool to ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        idle_timeout_s: float,
        max_connections: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._connect_timeout_s = connect_timeout_s
        self._idle_timeout_s = idle_timeout_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the connection pool (inside the running event loop)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=300, keepalive_timeout=15
            ),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._connect_timeout_s, sock_read=self._idle_timeout_s
            ),
            auto_decompress=False,
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
        try:
            return await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise UpstreamTimeout(
                f"connecting to the upstream timed out after {self._connect_timeout_s:g} s"
            ) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise UpstreamTimeout(
                f"the upstream sent no response within {self._idle_timeout_s:g} s"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise UpstreamUnreachable(
                f"cannot connect to the upstream at {url.host}:{url.port}: {reason}"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnreachable(
                f"the upstream closed the connection before answering ({type(exc).__name__})"
            ) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
