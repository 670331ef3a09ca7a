"""Shared fixtures: factories for settings, a fake upstream and a real router on loopback."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from sqlalchemy import text

from link_assistant_router.app import ROUTER, Router, create_app
from link_assistant_router.config import Settings
from link_assistant_router.connections import make_runner
from tests.fakes.oauth import FakeTokenEndpoint, running_fake_token_endpoint
from tests.fakes.upstream import FakeUpstream, running_fake_upstream
from tests.serving import free_port

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
OAUTH_TOKEN = "sk-ant-oat01-test-access-token-DO-NOT-LEAK"
REFRESH_TOKEN = "sk-ant-ort01-test-refresh-token-DO-NOT-LEAK"
TEST_SECRET = "test-signing-secret-" + "x" * 32


def write_credentials(home: Path, document: Any, name: str = ".credentials.json") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_bytes(document if isinstance(document, bytes) else orjson.dumps(document))
    path.chmod(0o600)
    return path


def claude_login(
    access: str = OAUTH_TOKEN, expires_at_ms: int = 4_102_444_800_000
) -> dict[str, Any]:
    return {
        "claudeAiOauth": {
            "accessToken": access,
            "refreshToken": REFRESH_TOKEN,
            "expiresAt": expires_at_ms,
            "scopes": ["user:inference"],
            "subscriptionType": "max",
            "rateLimitTier": "default_claude_max_20x",
        },
        "mcpOAuth": {"keep": "me"},
    }


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings isolated in tmp_path: no environment, no .env, no real home."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "claude_code_home": tmp_path / "claude",
            "upstream_base_url": "http://127.0.0.1:9",
            # Never the real token endpoint: tests that refresh run their own on loopback.
            "oauth_token_url": "http://127.0.0.1:9/v1/oauth/token",
            "token_secret": TEST_SECRET,
            "log_level": "debug",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return factory


@pytest.fixture
async def token_endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    async with running_fake_token_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    async with running_fake_upstream() as fake:
        yield fake


@dataclass
class RunningRouter:
    url: str
    app: web.Application
    runner: web.AppRunner
    admin_url: str  # the loopback admin listener (ADMIN_PORT)

    async def stop(self) -> None:
        """Stop it as a restart would: the lifespan closes, state in memory is gone."""
        await self.runner.cleanup()

    @property
    def parts(self) -> Router:
        return self.app[ROUTER]

    async def issue_key(self, label: str = "test", ttl_hours: float = 1) -> str:
        return (await self.parts.keys.issue(ttl_hours, label)).token


@pytest.fixture
async def start_router(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[RunningRouter]]]:
    """Start real routers on 127.0.0.1 (a Claude Code login in tmp_path unless told otherwise)."""
    runners: list[web.AppRunner] = []

    async def factory(login: Any = "default", **overrides: Any) -> RunningRouter:
        overrides.setdefault("admin_port", free_port())
        settings = make_settings(**overrides)
        if login == "default":
            write_credentials(settings.claude_code_home, claude_login())
        app = create_app(settings)
        runner = make_runner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        admin_url = ""
        if settings.admin_port:
            await web.TCPSite(runner, "127.0.0.1", settings.admin_port).start()
            admin_url = f"http://127.0.0.1:{settings.admin_port}"
        return RunningRouter(f"http://{host}:{port}", app, runner, admin_url)

    yield factory
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def router(
    start_router: Callable[..., Awaitable[RunningRouter]], fake_upstream: FakeUpstream
) -> RunningRouter:
    return await start_router(upstream_base_url=fake_upstream.url)


async def ledger_rows(router: RunningRouter, count: int) -> list[dict[str, Any]]:
    """The usage ledger's rows once ``count`` of them are there (a request's row is recorded
    just after its reply)."""
    engine = router.parts.store.engine  # type: ignore[attr-defined]
    for _ in range(100):
        await router.parts.ledger.flush()
        async with engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in await conn.execute(text("SELECT * FROM usage_events ORDER BY at"))
            ]
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} ledger rows, found {len(rows)}")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import asyncpg  # type: ignore[import-untyped]

    admin_dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = "lar_test_" + uuid.uuid4().hex[:12]
    try:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("LAR_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL not reachable at TEST_DATABASE_URL ({type(exc).__name__})")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = POSTGRES_URL.rpartition("/")
    yield f"{base}/{name}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("TOKEN_", "UPSTREAM_", "ROUTER_", "DATABASE_", "CLAUDE_", "ADMIN_", "TRUSTED_")
        )
    }
    env.update(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "CLAUDE_CODE_HOME": str(tmp_path / "claude"),
            "TOKEN_SECRET": TEST_SECRET,
            "UPSTREAM_BASE_URL": "http://127.0.0.1:9",
            "ADMIN_PORT": "0",  # tests that use the admin listener give it a free port
        }
    )
    return env


async def run_cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "link_assistant_router",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def issued_keys(env: dict[str, str], cwd: Path, *flags: list[str]) -> list[str]:
    """Keys issued by ``tokens issue``, one for each list of flags (the store is ``env``'s)."""
    keys = []
    for given in flags:
        code, out, err = await run_cli(env, cwd, "tokens", "issue", "--json", *given)
        assert code == 0, err
        keys.append(orjson.loads(out)["token"])
    return keys


def random_secret() -> str:
    return secrets.token_urlsafe(48)
