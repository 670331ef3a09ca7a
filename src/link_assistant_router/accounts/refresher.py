"""Keeping Claude Code logins fresh: one refresh per account at a time, everywhere.

Refresh tokens are single-use (REFERENCE §4): two holders spending the same one log each other
out. So a refresh takes, in this order,

1. an ``asyncio.Lock`` per account (coroutines of this process),
2. the store lease ``refresh:<account>`` (every process and replica sharing the store),
3. ``host_lock`` on the credentials file (processes on this host, whatever store they use),

then re-reads the file, because someone else (another replica, a local ``claude``) may have
refreshed meanwhile: then their token is used and the endpoint is not called. Otherwise the
refresh token from the file is spent and the new pair is saved before anyone uses it. From the
call to the endpoint until the pair is saved, cancelling the caller does not interrupt the work
(the locks are kept until it is done, and the cancellation is re-raised after).

Failures are remembered per account, keyed by the refresh token they concern, so that a burst
of requests does not hammer the endpoint:

- ``NeedsLogin`` (the endpoint refused the login, or there is no refresh token): raised again,
  without a call, until the file holds a different refresh token (someone logged in again);
- ``RefreshUnavailable`` (the endpoint failed): raised again, without a call, for
  ``retry_after_s``; after that, or once the login changed, the next refresh tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from link_assistant_router.accounts.credentials import ClaudeCodeHomeSource, Credential, fingerprint
from link_assistant_router.accounts.credfile import host_lock, write_rotated_login
from link_assistant_router.accounts.oauth import RELOGIN_ADVICE, OAuthClient
from link_assistant_router.errors import NeedsLogin, RefreshUnavailable, StoreError
from link_assistant_router.storage.base import Store
from link_assistant_router.times import iso

__all__ = ["LEASE_POLL_MAX_S", "LEASE_POLL_S", "LEASE_PREFIX", "Refresher"]

log = logging.getLogger(__name__)

T = TypeVar("T")

LEASE_PREFIX = "refresh:"
LEASE_POLL_S = 0.05
LEASE_POLL_MAX_S = 1.0


@dataclass(frozen=True, slots=True)
class _Failure:
    """A refresh that failed, and for which login (``refresh_fingerprint``) it holds."""

    refresh_fingerprint: str
    message: str
    retry_at: float | None  # None: not before the login changes (NeedsLogin)


class Refresher:
    """Refreshes the Claude Code logins of accounts (see the module docstring for the contract).

    ``holder`` names this refresher in store leases: it must be unique per process (and per
    ``Refresher``), e.g. host, pid and a random part. ``clock`` gives epoch seconds; it decides
    expiry and is what lease times are measured in.
    """

    def __init__(
        self,
        store: Store,
        oauth: OAuthClient,
        *,
        holder: str,
        clock: Callable[[], float] = time.time,
        margin_s: float = 300,
        lease_ttl_s: float = 60,
        retry_after_s: float = 10,
        host_lock_timeout_s: float = 15,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store = store
        self._on_outcome = on_outcome
        self._oauth = oauth
        self._holder = holder
        self._clock = clock
        self._margin_s = margin_s
        self._lease_ttl_s = lease_ttl_s
        self._retry_after_s = retry_after_s
        self._host_lock_timeout_s = host_lock_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._failures: dict[str, _Failure] = {}

    async def ensure_fresh(
        self,
        account: str,
        source: ClaudeCodeHomeSource,
        *,
        force: bool = False,
        stale_token: str | None = None,
    ) -> Credential:
        """The account's credential, refreshed first if it expires within the margin.

        ``force=True`` refreshes even if the expiry looks fine; with ``stale_token`` (the access
        token the upstream just rejected as expired) it does so only while the file still holds
        that token. ``NeedsLogin``: a person must log in again (never retry in a loop).
        ``RefreshUnavailable``: try again later. ``NoCredential`` if the home holds no login.
        """
        credential = source.reload() if force else source.current()
        seen = stale_token if stale_token is not None else credential.token
        if self._settled(credential, seen, force):
            return credential
        async with self._locks.setdefault(account, asyncio.Lock()):
            # Another coroutine may have refreshed while this one waited for the lock, or a
            # person may have logged in again since a refusal: look at the file as it is now.
            credential = source.reload()
            if self._settled(credential, seen, force):
                return credential
            self._raise_if_hopeless(account, source, credential)
            lease = LEASE_PREFIX + account
            if not await self._wait_for_lease(lease):
                credential = source.reload()
                if self._settled(credential, seen, force):
                    return credential
                raise RefreshUnavailable(
                    f"account {account}: another router has been refreshing this login for "
                    f"{self._lease_ttl_s:g} s without finishing; will retry later"
                )
            try:
                path = Path(credential.source)
                return await self._refresh_holding_lease(account, source, path, seen, force)
            finally:
                await self._release_lease(lease)

    async def _refresh_holding_lease(
        self, account: str, source: ClaudeCodeHomeSource, path: Path, seen: str, force: bool
    ) -> Credential:
        async with host_lock(path, timeout_s=self._host_lock_timeout_s):
            credential = source.reload()
            if self._settled(credential, seen, force):
                log.info("account %s: the login was already refreshed elsewhere; using it", account)
                return credential
            self._raise_if_hopeless(account, source, credential)
            # Waiting for the host lock took time; make sure the lease outlives the refresh.
            if not await self._acquire_lease(LEASE_PREFIX + account):
                raise RefreshUnavailable(
                    f"account {account}: lost the refresh lease while waiting; will retry later"
                )
            return await _uninterrupted(self._rotate(account, source, credential))

    async def _rotate(
        self, account: str, source: ClaudeCodeHomeSource, credential: Credential
    ) -> Credential:
        """Spend the refresh token, save the new pair, and return the login as now on disk."""
        refresh_token = credential.refresh_token
        assert refresh_token is not None  # checked by _raise_if_hopeless
        login = fingerprint(refresh_token)
        try:
            grant = await self._oauth.refresh(refresh_token)
        except NeedsLogin as exc:
            message = f"account {account} ({source.home}): {exc.message}"
            self._failures[account] = _Failure(login, message, retry_at=None)
            self._outcome(account, "needs_login")
            log.error("account %s needs a new login: %s", account, message)
            raise NeedsLogin(message) from exc
        except RefreshUnavailable as exc:
            message = f"account {account}: {exc.message}"
            retry_at = self._clock() + self._retry_after_s
            self._failures[account] = _Failure(login, message, retry_at=retry_at)
            self._outcome(account, "failed")
            log.warning("refreshing account %s failed: %s", account, exc.message)
            raise RefreshUnavailable(message) from exc
        self._failures.pop(account, None)
        try:
            await asyncio.to_thread(write_rotated_login, Path(credential.source), grant)
        except RefreshUnavailable as exc:
            log.error(
                "account %s was refreshed but the new login could not be saved (%s); its old "
                "refresh token is spent, so it will need a new login once this one expires",
                account,
                exc.message,
            )
            raise
        self._outcome(account, "ok")
        log.info(
            "refreshed the login of account %s; it now expires at %s",
            account,
            iso(grant.expires_at),
        )
        return source.reload()

    def _outcome(self, account: str, outcome: str) -> None:
        if self._on_outcome is not None:
            self._on_outcome(account, outcome)

    def _settled(self, credential: Credential, seen: str, force: bool) -> bool:
        """True when ``credential`` needs no refresh by us: someone else's fresh token, or ours
        while it is not expiring and no refresh was forced."""
        if credential.token != seen:
            return not self._expiring(credential)
        return not force and not self._expiring(credential)

    def _expiring(self, credential: Credential) -> bool:
        expires_at = credential.expires_at
        return expires_at is not None and expires_at <= self._clock() + self._margin_s

    def _raise_if_hopeless(
        self, account: str, source: ClaudeCodeHomeSource, credential: Credential
    ) -> None:
        """Raise instead of calling the endpoint when that cannot help (see the module doc)."""
        if credential.refresh_token is None:
            message = (
                f"account {account} ({source.home}): the login in {credential.source} has no "
                f"refresh token, so it cannot be refreshed; {RELOGIN_ADVICE}"
            )
            log.error("account %s needs a new login: %s", account, message)
            raise NeedsLogin(message)
        failure = self._failures.get(account)
        if failure is None:
            return
        if failure.refresh_fingerprint != fingerprint(credential.refresh_token):
            del self._failures[account]  # the login changed: it deserves a try
            return
        if failure.retry_at is None:
            raise NeedsLogin(failure.message)
        if self._clock() < failure.retry_at:
            raise RefreshUnavailable(failure.message)

    async def _wait_for_lease(self, name: str) -> bool:
        """Take the lease, waiting with backoff (up to the lease TTL) while another holds it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_ttl_s
        delay = LEASE_POLL_S
        while not await self._acquire_lease(name):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, LEASE_POLL_MAX_S)
        return True

    async def _acquire_lease(self, name: str) -> bool:
        try:
            return await self._store.acquire_lease(
                name, self._holder, self._lease_ttl_s, self._clock()
            )
        except StoreError as exc:
            raise RefreshUnavailable(
                f"cannot coordinate the refresh with other routers: {exc.message}"
            ) from exc

    async def _release_lease(self, name: str) -> None:
        try:
            await _uninterrupted(self._store.release_lease(name, self._holder))
        except StoreError as exc:
            log.warning("could not release the lease %s (it expires by itself): %s", name, exc)


async def _uninterrupted(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end even if the caller is cancelled meanwhile; then re-raise that."""
    task = asyncio.ensure_future(work)
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost
        raise asyncio.CancelledError
    return task.result()
