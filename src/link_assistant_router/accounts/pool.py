"""The pool of accounts: which may serve a key now, and what each response says about them.

State changes (a cooldown, a dead login) are written to the store when they happen, so every
worker and replica sees them; each process re-reads the shared state every few seconds
(``sync``). Cooldowns are stored with their end time: they end by themselves and survive restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from link_assistant_router.accounts.account import (
    COOLING_DOWN,
    DISABLED,
    NEEDS_LOGIN,
    READY,
    Account,
    settings_accounts,
    stored_account,
)
from link_assistant_router.accounts.credentials import ClaudeCodeHomeSource, Credential, fingerprint
from link_assistant_router.accounts.health import QuotaSnapshot
from link_assistant_router.accounts.refresher import Refresher
from link_assistant_router.accounts.vault import Vault
from link_assistant_router.config import Settings
from link_assistant_router.errors import (
    NeedsLogin,
    NoAccountAvailable,
    NoCredential,
    NotFound,
    RefreshUnavailable,
    RouterError,
    StoreError,
    UpstreamError,
)
from link_assistant_router.governance.audit import ROUTER, AuditLog
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import KeyRecord
from link_assistant_router.times import iso

log = logging.getLogger(__name__)


_MAX_MODEL_RESTS = 10_000


class AccountPool:
    """Every account this router may use, with their shared state."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        vault: Vault,
        refresher: Refresher | None = None,
        *,
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
    ) -> None:
        self._settings = settings
        self._audit = audit
        self._store = store
        self._vault = vault
        self._refresher = refresher
        self._clock = clock
        # (account, model) -> until when an overload rests that account for that model.
        self._model_rests: dict[tuple[str, str], float] = {}
        self._accounts: dict[str, Account] = {}
        self._background_refreshes: dict[str, asyncio.Task[None]] = {}

    def use_refresher(self, refresher: Refresher) -> None:
        """Set how Claude Code logins are refreshed (built once the event loop runs)."""
        self._refresher = refresher

    @property
    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def get(self, name: str) -> Account:
        account = self._accounts.get(name)
        if account is None:
            raise NotFound(f"no account named {name!r}")
        return account

    def is_subscription(self, name: str) -> bool:
        """Whether the account ``name`` is a subscription login (not an API key)."""
        account = self._accounts.get(name)
        return account is not None and account.kind != "api-key"

    async def load(self) -> None:
        """Build the accounts from the settings and the store, then take the shared state."""
        accounts = {account.name: account for account in settings_accounts(self._settings)}
        for record in await self._store.list_accounts():
            if record.name in accounts:
                log.warning("stored account %r is shadowed by a configured one", record.name)
                continue
            try:
                accounts[record.name] = stored_account(record, self._vault)
            except RouterError as exc:
                log.error("account %r cannot be used: %s", record.name, exc.message)
        self._accounts = accounts
        await self.sync()

    async def sync(self) -> None:
        """Adopt state written by other processes; pick up accounts added or removed."""
        stored = {record.name for record in await self._store.list_accounts()}
        for name, account in list(self._accounts.items()):
            if account.origin == "store" and name not in stored:
                del self._accounts[name]
        missing = stored - set(self._accounts)
        if missing:
            for record in await self._store.list_accounts():
                if record.name in missing:
                    try:
                        self._accounts[record.name] = stored_account(record, self._vault)
                    except RouterError as exc:
                        log.error("account %r cannot be used: %s", record.name, exc.message)
        states = await self._store.load_account_states()
        for name, account in self._accounts.items():
            state = states.get(name)
            if state is not None and state.updated_at >= account.updated_at:
                account.adopt(state)
        await self._flush_counters()

    async def _flush_counters(self) -> None:
        counts = {a.name: a.unsaved_requests for a in self._accounts.values() if a.unsaved_requests}
        dirty = [a for a in self._accounts.values() if a.quota_dirty]
        for account in dirty:
            await self._store.save_account_quota(account.name, account.quota_json(), self._clock())
            account.quota_dirty = False
        if counts:
            await self._store.add_account_requests(counts)
            for account in self._accounts.values():
                account.requests += counts.get(account.name, 0)
                account.unsaved_requests -= counts.get(account.name, 0)

    def candidates(self, key: KeyRecord) -> list[Account]:
        """The accounts that may serve this key now (before any ordering)."""
        now = self._clock()
        allowed = self._allowed(key)
        return [account for account in allowed if account.is_available(now)]

    def _allowed(self, key: KeyRecord) -> list[Account]:
        if key.account is not None:
            account = self._accounts.get(key.account)
            if account is None:
                raise UpstreamError(f"this key is bound to account {key.account!r}, which is gone")
            return [account]
        if key.group is not None:
            members = [a for a in self._accounts.values() if a.group == key.group]
            if not members:
                raise UpstreamError(
                    f"this key is bound to account group {key.group!r}, which is empty"
                )
            return members
        return list(self._accounts.values())

    def unavailable(self, key: KeyRecord) -> RouterError:
        """The error for a key no account can serve: 429 while they cool down, else 502."""
        now = self._clock()
        allowed = self._allowed(key)
        waits = [
            a.cooldown_until - now
            for a in allowed
            if a.state == COOLING_DOWN and a.cooldown_until and a.cooldown_until > now
        ]
        if waits and len(waits) == len([a for a in allowed if a.state != DISABLED]):
            return NoAccountAvailable(
                "every account is rate-limited; try again later", retry_after=max(1.0, min(waits))
            )
        problems = [f"{a.name}: {a.unavailable_reason(now)}" for a in allowed]
        if not problems:
            return UpstreamError("no upstream account is configured; see `doctor`")
        return NeedsLogin(
            "no upstream account can serve: "
            + "; ".join(problems)
            + " (see `link-assistant-router accounts list`)"
        )

    async def credential_for(self, account: Account) -> Credential:
        """The account's credential, refreshed first if it has expired (or soon will)."""
        credential = account.credential()
        if account.kind != "claude-code" or credential.expires_at is None or not self._refresher:
            return credential
        now = self._clock()
        if credential.expires_at <= now:
            return await self.refresh(account, force=True, stale_token=credential.token)
        if credential.expires_at - now < self._settings.refresh_margin_s:
            self._refresh_in_background(account)
        return credential

    async def close(self) -> None:
        """Wait for early refreshes still running (they write a credentials file)."""
        running = [task for task in self._background_refreshes.values() if not task.done()]
        if running:
            await asyncio.wait(running, timeout=10.0)
        for task in running:
            task.cancel()

    def _refresh_in_background(self, account: Account) -> None:
        task = self._background_refreshes.get(account.name)
        if task is not None and not task.done():
            return

        async def run() -> None:
            try:
                await self.refresh(account)
            except RouterError as exc:
                log.warning("early refresh of %s failed: %s", account.name, exc.message)

        self._background_refreshes[account.name] = asyncio.create_task(run())

    async def refresh(
        self, account: Account, *, force: bool = False, stale_token: str | None = None
    ) -> Credential:
        """Refresh a Claude Code login (one refresh at a time across every process)."""
        if self._refresher is None or not isinstance(account.source, ClaudeCodeHomeSource):
            raise NeedsLogin(f"account {account.name} cannot be refreshed ({account.kind})")
        try:
            return await self._refresher.ensure_fresh(
                account.name, account.source, force=force, stale_token=stale_token
            )
        except NeedsLogin as exc:
            await self.needs_login(account, exc.message, logged=True)
            raise
        except RefreshUnavailable as exc:
            account.last_error = exc.message
            raise

    def observe(self, account: Account, quota: QuotaSnapshot | None) -> None:
        """Note the quota headers of a response (persisted in the next ``sync``)."""
        account.unsaved_requests += 1
        if quota is not None and (quota.windows or account.quota is None):
            # A response without window headers says nothing new: keep what the last one said.
            account.quota = quota
            account.quota_dirty = True

    def rest_for_model(self, account: Account, model: str, until: float) -> None:
        """The upstream was overloaded serving ``model`` on this account: try the others first
        for that model until ``until`` (this process only; other models are not affected)."""
        log.warning(
            "account %s rests for model %r until %s: overloaded", account.name, model, iso(until)
        )
        if len(self._model_rests) > _MAX_MODEL_RESTS:
            now = self._clock()
            self._model_rests = {k: v for k, v in self._model_rests.items() if v > now}
        self._model_rests[(account.name, model)] = until

    def overloaded_last(self, accounts: list[Account], model: str) -> list[Account]:
        """``accounts``, those resting for ``model`` moved to the end (their order kept)."""
        if not self._model_rests:
            return accounts
        now = self._clock()
        rests = self._model_rests
        return sorted(accounts, key=lambda a: rests.get((a.name, model), 0.0) > now)

    async def cool_down(self, account: Account, until: float, reason: str) -> None:
        log.warning("account %s cools down until %s: %s", account.name, iso(until), reason)
        await self._transition(account, COOLING_DOWN, reason, cooldown_until=until)

    async def needs_login(self, account: Account, reason: str, *, logged: bool = False) -> None:
        """Take the account out of rotation until its login changes (``logged``: said already)."""
        try:
            token = account.credential().token
        except NoCredential:
            token = ""
        if not logged:
            log.error("account %s needs a new login: %s", account.name, reason)
        first = account.state != NEEDS_LOGIN
        await self._transition(
            account, NEEDS_LOGIN, reason, fingerprint=fingerprint(token) if token else None
        )
        if first and self._audit is not None:
            await self._audit.record(
                "account.needs_login", account.name, ROUTER, {"reason": reason[:300]}
            )

    async def set_disabled(self, account: Account, disabled: bool) -> None:
        await self._transition(account, DISABLED if disabled else READY, None)

    async def note_error(self, account: Account, message: str) -> None:
        account.last_error = message

    async def _transition(
        self,
        account: Account,
        state: str,
        reason: str | None,
        *,
        cooldown_until: float | None = None,
        fingerprint: str | None = None,
    ) -> None:
        now = self._clock()
        account.state, account.reason = state, reason
        account.cooldown_until, account.login_fingerprint = cooldown_until, fingerprint
        if reason:
            account.last_error = reason
        account.updated_at = now
        try:
            await self._store.save_account_state(account.state_record(now))
        except StoreError as exc:
            # This process acts on it at once; the others learn it when the store is back
            # (the state is newer than theirs, so the next sync keeps it here).
            log.warning("account %s: state %s not shared yet: %s", account.name, state, exc)


__all__ = ["READY", "AccountPool"]
