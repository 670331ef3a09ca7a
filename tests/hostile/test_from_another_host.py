"""A client on another host: a network namespace this test creates, joined to this one by a veth
pair with documentation addresses (TEST-NET-2, RFC 5737). Both ends are on this machine;
nothing is routed anywhere else.

From there the admin API is refused on the public listener and unreachable on the admin one,
``/ready`` shows no details, network limits see the client's real address, and proxy headers
are believed only from a trusted proxy. Needs root and iproute2 (CI has both); skipped, saying
so, where the machine cannot create a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.conftest import OAUTH_TOKEN, run_cli
from tests.fakes.upstream import FakeUpstream
from tests.serving import free_port, start_serve, wait_until_healthy

HOST_ADDRESS, CLIENT_ADDRESS = "198.51.100.1", "198.51.100.2"
# Run inside the namespace: one request, its status and body printed as JSON.
CLIENT = """
import http.client, json, sys
host, port, method, path, headers, body = json.loads(sys.argv[1])
try:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request(method, path, body=body.encode() if body else None, headers=headers)
    response = connection.getresponse()
    print(json.dumps([response.status, response.read().decode(errors="replace")]))
except OSError as exc:
    print(json.dumps([None, type(exc).__name__]))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class Namespace:
    name: str

    def request(
        self,
        port: int,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int | None, str]:
        argument = orjson.dumps(
            [HOST_ADDRESS, port, method, path, headers or {}, body.decode()]
        ).decode()
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-c", CLIENT, argument],
            capture_output=True,
            timeout=60,
            check=True,
        )
        status, text = orjson.loads(done.stdout)
        return status, text


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("creating a network namespace needs root and iproute2 (CI has both)")
    name = f"lar{os.getpid() % 100000}"
    host_end, client_end = f"{name}h", f"{name}c"
    try:
        _ip("netns", "add", name)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"this machine cannot create a network namespace: {exc.stderr.decode()}")
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", client_end)
        _ip("link", "set", client_end, "netns", name)
        _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        _ip("netns", "exec", name, "ip", "addr", "add", f"{CLIENT_ADDRESS}/30", "dev", client_end)
        _ip("netns", "exec", name, "ip", "link", "set", client_end, "up")
        _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name)
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@dataclass
class PublicRouter:
    port: int
    admin_port: int
    env: dict[str, str]
    cwd: Path


@contextlib.asynccontextmanager
async def serving_publicly(
    env: dict[str, str], cwd: Path, upstream: FakeUpstream, **extra: str
) -> AsyncIterator[PublicRouter]:
    """The router on the host's end of the veth link (and its admin listener on loopback)."""
    port, admin_port = free_port(), free_port()
    env = {
        **env,
        "UPSTREAM_BASE_URL": upstream.url,
        "UPSTREAM_OAUTH_TOKEN": OAUTH_TOKEN,
        "ROUTER_HOST": HOST_ADDRESS,
        "ROUTER_PORT": str(port),
        "ADMIN_PORT": str(admin_port),
        "KEY_CACHE_TTL_S": "0",
        **extra,
    }
    process = await start_serve(env, cwd)
    try:
        await wait_until_healthy(f"http://{HOST_ADDRESS}:{port}", process)
        yield PublicRouter(port, admin_port, env, cwd)
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=30)


@pytest.fixture
async def public_router(
    namespace: Namespace, cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> AsyncIterator[PublicRouter]:
    async with serving_publicly(cli_env, tmp_path, fake_upstream) as router:
        yield router


async def issue(router: PublicRouter, *options: str) -> str:
    code, out, err = await run_cli(router.env, router.cwd, "tokens", "issue", "--json", *options)
    assert code == 0, err
    token: str = orjson.loads(out)["token"]
    return token


MESSAGE = orjson.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
)


async def test_another_host_cannot_reach_the_admin_api(
    namespace: Namespace, public_router: PublicRouter
) -> None:
    for method, path in [("POST", "/api/tokens"), ("GET", "/v1/usage"), ("GET", "/metrics")]:
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "127.0.0.1"}):
            status, text = await asyncio.to_thread(
                namespace.request, public_router.port, method, path, headers
            )
            assert status == 403, (path, headers, text)
    status, text = await asyncio.to_thread(
        namespace.request, public_router.admin_port, "POST", "/api/tokens"
    )
    assert status is None  # nothing listens there for this host
    status, text = await asyncio.to_thread(namespace.request, public_router.port, "GET", "/ready")
    assert status == 200 and orjson.loads(text) == {"store": "ok", "status": "ready"}


async def test_network_limits_see_the_client_s_own_address(
    namespace: Namespace, public_router: PublicRouter, fake_upstream: FakeUpstream
) -> None:
    allowed = await issue(public_router, "--network", f"{CLIENT_ADDRESS}/32")
    elsewhere = await issue(public_router, "--network", "10.0.0.0/8")

    def send(key: str, **headers: str) -> int | None:
        status, _ = namespace.request(
            public_router.port, "POST", "/v1/messages", {"x-api-key": key, **headers}, MESSAGE
        )
        return status

    assert await asyncio.to_thread(send, allowed) == 200
    assert await asyncio.to_thread(send, elsewhere) == 403
    # Nobody is a trusted proxy here: a forwarded address changes nothing.
    assert await asyncio.to_thread(send, elsewhere, **{"X-Forwarded-For": "10.1.2.3"}) == 403
    assert len(fake_upstream.requests) == 1


async def test_behind_a_trusted_proxy_limits_see_the_forwarded_address(
    namespace: Namespace, cli_env: dict[str, str], tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    async with serving_publicly(
        cli_env, tmp_path, fake_upstream, TRUSTED_PROXIES=f"{CLIENT_ADDRESS}/32"
    ) as router:
        office = await issue(router, "--network", "10.1.0.0/16")

        def send(**headers: str) -> int | None:
            status, _ = namespace.request(
                router.port, "POST", "/v1/messages", {"x-api-key": office, **headers}, MESSAGE
            )
            return status

        assert await asyncio.to_thread(send) == 403  # the proxy's own address
        assert await asyncio.to_thread(send, **{"X-Forwarded-For": "10.1.2.3"}) == 200
        assert await asyncio.to_thread(send, Forwarded="for=10.1.9.9;proto=https") == 200
        # A client that lies before the proxy appends its view: the nearest untrusted hop wins.
        assert await asyncio.to_thread(send, **{"X-Forwarded-For": "10.1.2.3, 192.0.2.7"}) == 403
        # Still not the admin API: the request came through a proxy.
        status, _ = await asyncio.to_thread(
            namespace.request, router.port, "GET", "/api/tokens/list", {"X-Forwarded-For": "::1"}
        )
        assert status == 403
