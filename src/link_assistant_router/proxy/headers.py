"""Which headers cross the proxy, and how the upstream credential is put on a request.

Functions of data: they never see a socket, so every rule here is unit-tested directly.
Request headers are forwarded verbatim except for hop-by-hop headers (RFC 9110 §7.6.1: the fixed
list plus whatever ``Connection`` names), ``Host``, ``Content-Length`` (recomputed) and the
client's own key (``Authorization``, ``x-api-key``), which the upstream credential replaces, and
``Expect`` (the router answers ``100-continue`` itself).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from multidict import CIMultiDict

from link_assistant_router.accounts.credentials import Credential

__all__ = [
    "BETA_HEADER",
    "HOP_BY_HOP",
    "OAUTH_BETA",
    "client_key",
    "client_response_headers",
    "merge_beta",
    "upstream_request_headers",
]

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The router has read the whole body before it forwards anything, so a client's
# "Expect: 100-continue" is settled here and would only make the upstream wait.
_REQUEST_DROPPED = HOP_BY_HOP | {"host", "authorization", "x-api-key", "content-length", "expect"}
_RESPONSE_DROPPED = HOP_BY_HOP | {"content-length"}

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
OAUTH_BETA = "oauth-2025-04-20"
BETA_HEADER = "anthropic-beta"


def _connection_listed(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    named: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return frozenset(named)


def client_key(headers: Mapping[str, str]) -> str | None:
    """The key a client presented: ``x-api-key`` first, else an ``Authorization: Bearer`` token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def merge_beta(values: list[str], required: str) -> list[str]:
    """The ``anthropic-beta`` header values with ``required`` present, the client's kept in order.

    Values the client sent are returned byte-for-byte; the required flag is appended to the
    last one only when no value already lists it.
    """
    for value in values:
        if any(token.strip() == required for token in value.split(",")):
            return values
    if not values:
        return [required]
    last = values[-1].rstrip()
    return [*values[:-1], f"{last},{required}" if last else required]


def _kept(
    incoming: Iterable[tuple[str, str]], dropped: frozenset[str]
) -> list[tuple[str, str, str]]:
    """``(name, lowered name, value)`` of the headers not in ``dropped`` nor named by a
    ``Connection`` header, in their order: one pass, a second only when ``Connection`` names
    more than the fixed hop-by-hop list."""
    kept = []
    listed: frozenset[str] = frozenset()
    for name, value in incoming:
        lowered = name.lower()
        if lowered in dropped:
            if lowered == "connection":
                listed |= _connection_listed([(name, value)])
            continue
        kept.append((name, lowered, value))
    if listed - dropped:
        kept = [header for header in kept if header[1] not in listed]
    return kept


def upstream_request_headers(
    incoming: Iterable[tuple[str, str]], credential: Credential
) -> CIMultiDict[str]:
    """The headers to send upstream for a client request, with the credential swapped in."""
    outgoing: CIMultiDict[str] = CIMultiDict()
    betas: list[str] = []
    for name, lowered, value in _kept(incoming, _REQUEST_DROPPED):
        if lowered == BETA_HEADER:
            betas.append(value)
            continue
        outgoing.add(name, value)
    if credential.kind == "oauth":
        outgoing["Authorization"] = f"Bearer {credential.token}"
        betas = merge_beta(betas, OAUTH_BETA)
    else:
        outgoing["x-api-key"] = credential.token
    for value in betas:
        outgoing.add(BETA_HEADER, value)
    return outgoing


def client_response_headers(upstream: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """The upstream's response headers minus hop-by-hop ones (``Content-Length`` is set apart)."""
    outgoing: CIMultiDict[str] = CIMultiDict()
    for name, _, value in _kept(upstream, _RESPONSE_DROPPED):
        # A control byte is refused when the header is written (the connection would drop,
        # the answer lost): the header goes instead, and the log says so.
        if not value.isprintable() and _CONTROL.search(value):
            log.warning("dropped the upstream's header %r: it holds control bytes", name)
            continue
        outgoing.add(name, value)
    return outgoing
