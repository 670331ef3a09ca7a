"""Refreshing Claude Code logins: one refresh per account across coroutines, processes and hosts.

Everything here is real except the clock: credential files in tmp_path, a SQLite store, and the
fake token endpoint (which rotates refresh tokens and refuses a spent one) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from link_assistant_router.accounts.credentials import ClaudeCodeHomeSource
from link_assistant_router.accounts.credfile import host_lock, lock_path
from link_assistant_router.accounts.oauth import OAuthClient
from link_assistant_router.accounts.refresher import LEASE_PREFIX, Refresher
from link_assistant_router.errors import NeedsLogin, RefreshUnavailable
from link_assistant_router.storage.sql import SqlStore, open_store
from tests.fakes.oauth import CLIENT_ID, EXPIRES_IN, FakeTokenEndpoint, running_fake_token_endpoint

ACCOUNT = "main"
LEASE = LEASE_PREFIX + ACCOUNT
START = 1_800_000_000.0


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Login:
    path: Path
    access: str
    refresh: str

    @property
    def home(self) -> Path:
        return self.path.parent

    def document(self) -> Any:
        return json.loads(self.path.read_bytes())


def write_login(
    home: Path,
    access: str,
    refresh: str | None,
    expires_at: float,
    name: str = ".credentials.json",
) -> Login:
    home.mkdir(parents=True, exist_ok=True)
    oauth: dict[str, Any] = {
        "accessToken": access,
        "expiresAt": int(expires_at * 1000),
        "scopes": ["user:inference", "user:profile"],
        "subscriptionType": "max",
        "rateLimitTier": "default_claude_max_20x",
    }
    if refresh is not None:
        oauth["refreshToken"] = refresh
    path = home / name
    document = {"claudeAiOauth": oauth, "mcpOAuth": {"keep": "me"}, "somethingElse": [1, 2]}
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    return Login(path, access, refresh or "")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    async with running_fake_token_endpoint() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def make_refresher(
    store: SqlStore, endpoint: FakeTokenEndpoint, session: aiohttp.ClientSession, clock: Clock
) -> Callable[..., Refresher]:
    def factory(holder: str = "host:1:a", **options: Any) -> Refresher:
        oauth = OAuthClient(session, endpoint.url, CLIENT_ID, clock=clock)
        return Refresher(store, oauth, holder=holder, clock=clock, **options)

    return factory


@pytest.fixture
def expired_login(tmp_path: Path, endpoint: FakeTokenEndpoint, clock: Clock) -> Login:
    """A login whose access token expired a minute ago; its refresh token is valid."""
    access, refresh = endpoint.issue_login()
    return write_login(tmp_path / "claude", access, refresh, clock() - 60)


def valid_refresh_token(endpoint: FakeTokenEndpoint) -> str:
    (token,) = endpoint.valid_refresh_tokens
    return token


async def test_a_login_that_is_not_expiring_is_returned_without_any_io(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    tmp_path: Path,
    clock: Clock,
) -> None:
    access, refresh = endpoint.issue_login()
    login = write_login(tmp_path / "claude", access, refresh, clock() + 3600)

    credential = await make_refresher(margin_s=300).ensure_fresh(
        ACCOUNT, ClaudeCodeHomeSource(login.home)
    )

    assert credential.token == access
    assert endpoint.calls == 0
    assert not lock_path(login.path).exists()
    assert await store.acquire_lease(LEASE, "someone-else", 60, clock())  # never taken


async def test_a_login_inside_the_margin_is_refreshed_ahead_of_time(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    tmp_path: Path,
    clock: Clock,
) -> None:
    access, refresh = endpoint.issue_login()
    login = write_login(tmp_path / "claude", access, refresh, clock() + 200)

    credential = await make_refresher(margin_s=300).ensure_fresh(
        ACCOUNT, ClaudeCodeHomeSource(login.home)
    )

    assert endpoint.calls == 1
    assert credential.token != access
    assert credential.expires_at == clock() + EXPIRES_IN


async def test_sixteen_concurrent_reactive_refreshes_make_one_call(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    expired_login: Login,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint.delay_s = 0.05  # keep the refresh in flight while the others pile up
    refresher = make_refresher()
    source = ClaudeCodeHomeSource(expired_login.home)
    before = expired_login.document()

    credentials = await asyncio.gather(
        *(
            refresher.ensure_fresh(ACCOUNT, source, force=True, stale_token=expired_login.access)
            for _ in range(16)
        )
    )

    assert endpoint.calls == 1
    tokens = {credential.token for credential in credentials}
    assert len(tokens) == 1
    (new_access,) = tokens
    assert new_access != expired_login.access
    assert new_access.startswith("sk-ant-oat01-")
    after = expired_login.document()
    oauth = after["claudeAiOauth"]
    assert oauth["accessToken"] == new_access
    assert oauth["refreshToken"] == valid_refresh_token(endpoint)
    assert oauth["expiresAt"] == int((clock() + EXPIRES_IN) * 1000)
    assert isinstance(oauth["expiresAt"], int)
    for key in ("scopes", "subscriptionType", "rateLimitTier"):
        assert oauth[key] == before["claudeAiOauth"][key]
    assert after["mcpOAuth"] == {"keep": "me"}
    assert after["somethingElse"] == [1, 2]
    assert stat.S_IMODE(expired_login.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in expired_login.home.iterdir()) == [
        ".credentials.json",
        ".credentials.json.lock",
    ]
    refreshed = [r for r in caplog.records if "refreshed the login of account" in r.getMessage()]
    assert len(refreshed) == 1
    assert refreshed[0].levelno == logging.INFO
    assert ACCOUNT in refreshed[0].getMessage()
    assert "sk-ant-" not in caplog.text


async def test_two_refreshers_sharing_a_store_make_one_call(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    expired_login: Login,
) -> None:
    endpoint.delay_s = 0.1
    # Two processes: their own in-memory locks, sources and lease holders, one store and file.
    first = make_refresher(holder="host-a:100:x")
    second = make_refresher(holder="host-b:200:y")

    credentials = await asyncio.gather(
        first.ensure_fresh(
            ACCOUNT,
            ClaudeCodeHomeSource(expired_login.home),
            force=True,
            stale_token=expired_login.access,
        ),
        second.ensure_fresh(
            ACCOUNT,
            ClaudeCodeHomeSource(expired_login.home),
            force=True,
            stale_token=expired_login.access,
        ),
    )

    assert endpoint.calls == 1
    assert credentials[0].token == credentials[1].token != expired_login.access


TWO_PROCESS_SCRIPT = """
import asyncio, sys
from pathlib import Path

import aiohttp

from link_assistant_router.accounts.credentials import ClaudeCodeHomeSource
from link_assistant_router.accounts.oauth import OAuthClient
from link_assistant_router.accounts.refresher import Refresher
from link_assistant_router.storage.sql import open_store


async def main(store_url, home, token_url, client_id, holder, stale):
    store = open_store(store_url)
    await store.open()
    try:
        async with aiohttp.ClientSession() as session:
            refresher = Refresher(store, OAuthClient(session, token_url, client_id), holder=holder)
            credential = await refresher.ensure_fresh(
                "shared", ClaudeCodeHomeSource(Path(home)), force=True, stale_token=stale
            )
    finally:
        await store.close()
    print(credential.token, flush=True)


asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_router_processes_make_one_call(
    endpoint: FakeTokenEndpoint, store: SqlStore, tmp_path: Path
) -> None:
    endpoint.delay_s = 0.5  # a wide window for the two processes to collide in
    access, refresh = endpoint.issue_login()
    login = write_login(tmp_path / "claude", access, refresh, expires_at=1_000_000_000)
    store_url = f"sqlite+aiosqlite:///{tmp_path}/s.db"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            TWO_PROCESS_SCRIPT,
            store_url,
            str(login.home),
            endpoint.url,
            CLIENT_ID,
            f"process-{number}",
            access,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for number in (1, 2)
    ]

    outputs = await asyncio.wait_for(
        asyncio.gather(*(process.communicate() for process in processes)), timeout=120
    )

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    printed = {out.decode().strip() for out, _ in outputs}
    assert endpoint.calls == 1
    assert len(printed) == 1
    (new_access,) = printed
    assert new_access.startswith("sk-ant-oat01-") and new_access != access
    assert login.document()["claudeAiOauth"]["accessToken"] == new_access


async def test_a_login_refreshed_by_someone_else_is_used_without_a_call(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    session: aiohttp.ClientSession,
    expired_login: Login,
    clock: Clock,
) -> None:
    # The source checks the disk at most once a second: with this clock, never on its own.
    source = ClaudeCodeHomeSource(expired_login.home, clock=lambda: 0.0)
    assert source.current().token == expired_login.access
    # A local `claude` (or another replica) refreshes the login behind our back.
    theirs = await OAuthClient(session, endpoint.url, CLIENT_ID, clock=clock).refresh(
        expired_login.refresh
    )
    write_login(expired_login.home, theirs.access_token, theirs.refresh_token, theirs.expires_at)
    assert source.current().token == expired_login.access  # still the stale one in memory
    calls = endpoint.calls
    refresher = make_refresher()

    proactive = await refresher.ensure_fresh(ACCOUNT, source)
    reactive = await refresher.ensure_fresh(
        ACCOUNT, source, force=True, stale_token=expired_login.access
    )

    assert proactive.token == reactive.token == theirs.access_token
    assert endpoint.calls == calls


async def test_a_refused_login_needs_a_login_once_and_is_not_retried(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    access, refresh = endpoint.issue_login()
    rotated = await OAuthClient(session, endpoint.url, CLIENT_ID).refresh(refresh)
    # The file still holds the pair that was just rotated away: its refresh token is spent.
    login = write_login(tmp_path / "claude", access, refresh, clock() - 60)
    before = login.path.read_bytes()
    calls = endpoint.calls
    refresher = make_refresher()
    source = ClaudeCodeHomeSource(login.home)

    with pytest.raises(NeedsLogin) as caught:
        await refresher.ensure_fresh(ACCOUNT, source, force=True, stale_token=access)

    assert endpoint.calls == calls + 1
    assert login.path.read_bytes() == before
    message = caught.value.message
    assert ACCOUNT in message and str(login.home) in message
    assert "invalid_grant" in message and "/login" in message
    assert "sk-ant-" not in message
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "needs a new login" in errors[0].getMessage()
    assert "sk-ant-" not in caplog.text

    # Decision: while the file holds the same refused login, the refusal is repeated without
    # calling the endpoint again, however many requests ask.
    for outcome in await asyncio.gather(
        *(refresher.ensure_fresh(ACCOUNT, source) for _ in range(5)),
        refresher.ensure_fresh(ACCOUNT, source, force=True, stale_token=access),
        return_exceptions=True,
    ):
        assert isinstance(outcome, NeedsLogin)
    clock.advance(3600)
    with pytest.raises(NeedsLogin):
        await refresher.ensure_fresh(ACCOUNT, source)
    assert endpoint.calls == calls + 1
    assert rotated.refresh_token in endpoint.valid_refresh_tokens

    # Someone logs in again (a new pair, already expired here): that login is tried.
    new_access, new_refresh = endpoint.issue_login()
    write_login(login.home, new_access, new_refresh, clock() - 60)

    credential = await refresher.ensure_fresh(ACCOUNT, source)

    assert endpoint.calls == calls + 2
    assert credential.token not in (access, new_access)


async def test_endpoint_failure_is_refresh_unavailable_and_backs_off(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    expired_login: Login,
    clock: Clock,
) -> None:
    endpoint.fail(500)
    refresher = make_refresher(retry_after_s=10)
    source = ClaudeCodeHomeSource(expired_login.home)
    before = expired_login.path.read_bytes()

    with pytest.raises(RefreshUnavailable, match="HTTP 500") as caught:
        await refresher.ensure_fresh(ACCOUNT, source, force=True)
    assert endpoint.calls == 1
    assert ACCOUNT in caught.value.message

    outcomes = await asyncio.gather(
        *(refresher.ensure_fresh(ACCOUNT, source) for _ in range(8)), return_exceptions=True
    )
    assert all(isinstance(outcome, RefreshUnavailable) for outcome in outcomes)
    assert endpoint.calls == 1  # backing off, not hammering

    clock.advance(10)
    with pytest.raises(RefreshUnavailable):
        await refresher.ensure_fresh(ACCOUNT, source)
    assert endpoint.calls == 2
    assert expired_login.path.read_bytes() == before

    endpoint.answer_with = None
    clock.advance(10)
    credential = await refresher.ensure_fresh(ACCOUNT, source)
    assert endpoint.calls == 3
    assert credential.token != expired_login.access


async def test_a_login_without_refresh_token_needs_a_login(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    tmp_path: Path,
    clock: Clock,
) -> None:
    login = write_login(tmp_path / "claude", "sk-ant-oat01-setup-token", None, clock() - 60)

    with pytest.raises(NeedsLogin, match="no refresh token") as caught:
        await make_refresher().ensure_fresh(ACCOUNT, ClaudeCodeHomeSource(login.home))

    assert endpoint.calls == 0
    assert "sk-ant-" not in caught.value.message


async def test_a_forced_refresh_without_a_stale_token_refreshes_a_valid_login(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    tmp_path: Path,
    clock: Clock,
) -> None:
    access, refresh = endpoint.issue_login()
    login = write_login(tmp_path / "claude", access, refresh, clock() + 3600)

    credential = await make_refresher().ensure_fresh(
        ACCOUNT, ClaudeCodeHomeSource(login.home), force=True
    )

    assert endpoint.calls == 1
    assert credential.token != access


async def test_a_lease_held_elsewhere_is_waited_for_and_their_login_used(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    expired_login: Login,
    clock: Clock,
) -> None:
    assert await store.acquire_lease(LEASE, "other-replica", 60, clock())
    task = asyncio.create_task(
        make_refresher().ensure_fresh(
            ACCOUNT,
            ClaudeCodeHomeSource(expired_login.home),
            force=True,
            stale_token=expired_login.access,
        )
    )
    await asyncio.sleep(0.3)
    assert not task.done()
    assert endpoint.calls == 0

    # The other replica finishes its refresh, saves it and gives the lease back.
    write_login(expired_login.home, "sk-ant-oat01-theirs", "sk-ant-ort01-theirs", clock() + 28800)
    await store.release_lease(LEASE, "other-replica")
    credential = await asyncio.wait_for(task, 30)

    assert credential.token == "sk-ant-oat01-theirs"
    assert endpoint.calls == 0


async def test_the_lease_of_a_crashed_holder_is_taken_once_it_expires(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    expired_login: Login,
    clock: Clock,
) -> None:
    assert await store.acquire_lease(LEASE, "crashed-replica", 30, clock())
    task = asyncio.create_task(
        make_refresher().ensure_fresh(
            ACCOUNT,
            ClaudeCodeHomeSource(expired_login.home),
            force=True,
            stale_token=expired_login.access,
        )
    )
    await asyncio.sleep(0.2)
    assert not task.done()

    clock.advance(31)
    credential = await asyncio.wait_for(task, 30)

    assert endpoint.calls == 1
    assert credential.token != expired_login.access


@pytest.mark.parametrize("someone_refreshed", [False, True])
async def test_a_lease_that_is_never_released_ends_in_a_file_recheck(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    expired_login: Login,
    clock: Clock,
    someone_refreshed: bool,
) -> None:
    assert await store.acquire_lease(LEASE, "stuck-replica", 3600, clock())
    if someone_refreshed:
        write_login(expired_login.home, "sk-ant-oat01-theirs", "sk-ant-ort01-t", clock() + 28800)
    refresher = make_refresher(lease_ttl_s=0.3)
    source = ClaudeCodeHomeSource(expired_login.home, clock=lambda: 0.0)
    source.current()  # the stale login is what this process has in memory

    if someone_refreshed:
        credential = await refresher.ensure_fresh(ACCOUNT, source)
        assert credential.token == "sk-ant-oat01-theirs"
    else:
        with pytest.raises(RefreshUnavailable, match="another router"):
            await refresher.ensure_fresh(ACCOUNT, source)
    assert endpoint.calls == 0


async def test_the_host_lock_is_waited_for(
    endpoint: FakeTokenEndpoint,
    session: aiohttp.ClientSession,
    expired_login: Login,
    clock: Clock,
    tmp_path: Path,
) -> None:
    # A router on this host with a store of its own: only the lock file tells them apart.
    other_store = open_store(f"sqlite+aiosqlite:///{tmp_path}/other.db")
    await other_store.open()
    try:
        refresher = Refresher(
            other_store,
            OAuthClient(session, endpoint.url, CLIENT_ID, clock=clock),
            holder="solo",
            clock=clock,
        )
        async with host_lock(expired_login.path):
            task = asyncio.create_task(
                refresher.ensure_fresh(ACCOUNT, ClaudeCodeHomeSource(expired_login.home))
            )
            await asyncio.sleep(0.2)
            assert not task.done()
            assert endpoint.calls == 0
        credential = await asyncio.wait_for(task, 30)
    finally:
        await other_store.close()

    assert endpoint.calls == 1
    assert credential.token != expired_login.access


async def test_cancelling_mid_refresh_saves_the_new_login_then_frees_every_lock(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    expired_login: Login,
    clock: Clock,
) -> None:
    endpoint.delay_s = 0.3
    refresher = make_refresher()
    source = ClaudeCodeHomeSource(expired_login.home)
    task = asyncio.create_task(
        refresher.ensure_fresh(ACCOUNT, source, force=True, stale_token=expired_login.access)
    )
    await asyncio.wait_for(endpoint.called.wait(), 30)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The spent refresh token's successor reached the file before the locks were let go.
    oauth = expired_login.document()["claudeAiOauth"]
    assert oauth["refreshToken"] == valid_refresh_token(endpoint)
    assert oauth["accessToken"] != expired_login.access
    assert await store.acquire_lease(LEASE, "next-holder", 60, clock())
    await store.release_lease(LEASE, "next-holder")
    async with host_lock(expired_login.path, timeout_s=1):
        pass
    endpoint.delay_s = 0
    again = await asyncio.wait_for(refresher.ensure_fresh(ACCOUNT, source, force=True), 30)
    assert again.token != oauth["accessToken"]
    assert endpoint.calls == 2


async def test_cancelling_while_waiting_for_the_lease_frees_the_local_lock(
    make_refresher: Callable[..., Refresher],
    endpoint: FakeTokenEndpoint,
    store: SqlStore,
    expired_login: Login,
    clock: Clock,
) -> None:
    assert await store.acquire_lease(LEASE, "other-replica", 60, clock())
    refresher = make_refresher()
    source = ClaudeCodeHomeSource(expired_login.home)
    task = asyncio.create_task(refresher.ensure_fresh(ACCOUNT, source, force=True))
    await asyncio.sleep(0.2)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert endpoint.calls == 0
    assert not await store.acquire_lease(LEASE, "third-party", 60, clock())  # still theirs
    await store.release_lease(LEASE, "other-replica")
    credential = await asyncio.wait_for(refresher.ensure_fresh(ACCOUNT, source, force=True), 30)
    assert endpoint.calls == 1
    assert credential.token != expired_login.access
