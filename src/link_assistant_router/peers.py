"""Who is asking: the client's address (behind trusted proxies), whether a request came through
a proxy at all, and which of the router's listeners it arrived on.

Addresses in ``X-Forwarded-For``, ``Forwarded`` and ``X-Real-IP`` are believed only when the
connecting peer is a trusted proxy (``TRUSTED_PROXIES``); then the client is the last address
in the chain that is not itself a trusted proxy. Any header that names a client or a proxy makes
a request "not local", whoever sent it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from aiohttp import web
from multidict import CIMultiDictProxy

from link_assistant_router.limits import IpNetwork

__all__ = [
    "PROXY_HEADERS",
    "TRUSTED_PROXIES",
    "client_address",
    "from_trusted_proxy",
    "is_loopback",
    "listener_port",
    "names_a_proxy",
]

# Headers that reverse proxies, CDNs and load balancers set to name the client or themselves.
PROXY_HEADERS = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded",
    "forwarded-for",
    "x-original-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-proxyuser-ip",
    "via",
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[IpNetwork, ...])


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 203.0.113.9:443
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(remote: str | None) -> bool:
    address = _address(remote)
    return address is not None and address.is_loopback


def names_a_proxy(headers: Mapping[str, str]) -> bool:
    """Whether any header names a client or a proxy (so the request is not a local one)."""
    return any(name in headers for name in PROXY_HEADERS)


def _trusted(address: Address, trusted: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted)


def _forwarded_chain(headers: CIMultiDictProxy[str]) -> list[str]:
    """The client addresses the proxies listed, first (farthest) to last (nearest)."""
    chain: list[str] = []
    for value in headers.getall("forwarded", []):
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, given = pair.strip().partition("=")
                if name.lower() == "for":
                    chain.append(given)
    if not chain:
        for value in headers.getall("x-forwarded-for", []):
            chain += [part.strip() for part in value.split(",") if part.strip()]
    if not chain and headers.get("x-real-ip"):
        chain.append(headers["x-real-ip"])
    return chain


def client_address(request: web.Request) -> str | None:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
    address in the forwarding chain that is not a trusted proxy too."""
    remote = request.remote
    trusted = request.app.get(TRUSTED_PROXIES)
    if not trusted:
        return remote
    peer = _address(remote)
    if peer is None or not _trusted(peer, trusted):
        return remote
    for text in reversed(_forwarded_chain(request.headers)):
        address = _address(text)
        if address is None:
            return remote  # an unreadable hop: believe nothing further out than the peer
        if not _trusted(address, trusted):
            return str(address)
    return remote


def from_trusted_proxy(request: web.Request) -> bool:
    """Whether the connecting peer is one of ``TRUSTED_PROXIES``."""
    peer = _address(request.remote)
    trusted = request.app.get(TRUSTED_PROXIES)
    return peer is not None and trusted is not None and _trusted(peer, trusted)


def listener_port(request: web.Request) -> int | None:
    """The local port the request's connection arrived on."""
    transport = request.transport
    if transport is None:
        return None
    sockname = transport.get_extra_info("sockname")
    if isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[1], int):
        return sockname[1]
    return None
