"""Proxy variables for clients under test: any host but loopback goes to a closed port."""

from __future__ import annotations

from tests.serving import free_port


def closed_proxy_env(*exempt: str) -> dict[str, str]:
    """HTTP(S)_PROXY and ALL_PROXY (both spellings) at a loopback port nothing listens on;
    NO_PROXY lets loopback (and ``exempt``) through."""
    closed = f"http://127.0.0.1:{free_port()}"
    allowed = ",".join(("127.0.0.1", "localhost", *exempt))
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    return {
        **{name: closed for name in names},
        **{name.lower(): closed for name in names},
        "NO_PROXY": allowed,
        "no_proxy": allowed,
    }
