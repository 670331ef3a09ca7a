"""The request pipeline: authenticate -> read the body -> choose accounts -> forward -> relay.

The body goes upstream byte-for-byte, the same bytes on every attempt. An attempt on one account
fails over to the next (at most ``MAX_ATTEMPTS``) only while nothing has reached the client: on a
connection error, a spent quota window (429 with a rejected window), an overload (529), or a login
that is dead or expired beyond refreshing. To fail over on an ``event: error`` at the very start of
a stream, the start of a streamed answer (``message_start``, pings) is held until its first
content arrives. Once content has reached the client nothing is retried. When the last account
fails too, the client gets that upstream answer as it was sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from link_assistant_router.accounts.account import Account
from link_assistant_router.accounts.health import (
    Verdict,
    VerdictKind,
    classify,
    classify_stream_error,
    parse_quota,
)
from link_assistant_router.accounts.pool import AccountPool
from link_assistant_router.accounts.scheduler import Scheduler
from link_assistant_router.errors import (
    InvalidRequest,
    NoCredential,
    RequestTooLarge,
    RouterError,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from link_assistant_router.governance.governor import Governor
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.proxy.headers import client_key, upstream_request_headers
from link_assistant_router.proxy.relay import READ_ERRORS, is_event_stream, relay
from link_assistant_router.proxy.sessions import SESSION_HEADER, session_key
from link_assistant_router.proxy.sse import lf_lines, parse_event
from link_assistant_router.proxy.upstream import Upstream
from link_assistant_router.requestlog import REQUEST_LOG, RequestLog
from link_assistant_router.storage.records import KeyRecord

__all__ = ["OVERLOAD_BACKOFF_S", "Answer", "Outgoing", "Proxy", "model_named", "parse_object"]

log = logging.getLogger(__name__)

# Error bodies up to this size are read to classify them; larger ones pass through unread.
_ERROR_BODY_LIMIT = 1024 * 1024
# How long the start of a stream may be held (waiting for its first content) before it is
# passed on anyway: clients give up on silent streams.
_HOLD_LIMIT_S = 10.0
_HOLD_LIMIT_BYTES = 256 * 1024
# The pause before the next account after an overload: a moment for the model to recover.
OVERLOAD_BACKOFF_S = 0.25
_PRELUDE_EVENTS = frozenset({b"message_start", b"ping"})
_FAILOVER = frozenset(
    {VerdictKind.WINDOW_REJECTED, VerdictKind.OVERLOADED, VerdictKind.NEEDS_LOGIN}
)


@dataclass(slots=True)
class _Tries:
    """What one request's attempts share: the model it asks for, the overloads it met."""

    model: str
    overloads: int = 0


_MODEL_FIELD = re.compile(rb'"model"\s*:\s*"([^"\\]{1,100})"')


def model_named(body: bytes | None) -> str:
    """The model a request body names, found without parsing it (for scoping an overload; not
    for governance, which parses: ``governor.model_of``); "" when none is seen."""
    if not body:
        return ""
    found = _MODEL_FIELD.search(body)
    return found.group(1).decode("utf-8", "replace") if found else ""


@dataclass(frozen=True)
class Outgoing:
    """What to send upstream: the same on every attempt (the body byte for byte)."""

    method: str
    target: str
    headers: Collection[tuple[str, str]]
    body: bytes | None


@dataclass
class Answer:
    """An upstream response, with the bytes of it already read (``prefix``)."""

    response: aiohttp.ClientResponse
    prefix: bytes = b""
    complete: bool = False
    stream_error: bytes | None = None


class Proxy:
    """Forwards client requests to the upstream with the chosen account's credential."""

    def __init__(
        self,
        keys: KeyService,
        pool: AccountPool,
        scheduler: Scheduler,
        upstream: Upstream,
        governor: Governor,
        *,
        max_body_bytes: int,
        max_attempts: int,
        overload_cooldown_s: float,
        idle_timeout_s: float = 240.0,
    ) -> None:
        self._keys = keys
        self._pool = pool
        self._scheduler = scheduler
        self._upstream = upstream
        self._governor = governor
        self._max_body_bytes = max_body_bytes
        self._max_attempts = max_attempts
        self._overload_cooldown_s = overload_cooldown_s
        self._idle_timeout_s = idle_timeout_s

    async def forward(self, request: web.Request, target: str) -> web.StreamResponse:
        """Proxy ``request`` to ``target`` (the upstream path and query, still encoded)."""
        key = await self.authenticate(request)
        # Not kept in a name here: ``send`` lets go of the body once an answer is chosen.
        return await self.send(request, key, await self.outgoing(request, target))

    async def outgoing(self, request: web.Request, target: str) -> Outgoing:
        """The client's request, to go to ``target`` as it is (its body read within the limit)."""
        body = await self.read_body(request)
        return Outgoing(request.method, target, request.headers.items(), body)

    async def send(
        self,
        request: web.Request,
        key: KeyRecord,
        outgoing: Outgoing,
        *,
        prefer: Callable[[Account], bool] | None = None,
    ) -> web.StreamResponse:
        """Send ``outgoing`` for ``key`` (failing over between accounts) and relay the answer
        to the client as it arrives."""
        entry = request[REQUEST_LOG]
        answer = await self.exchange(
            key, outgoing, entry, session_from=request.headers, prefer=prefer
        )
        # No account is tried after this: a long stream need not keep the request's body
        # (Claude Code's are 100 KB and more) for the minutes it runs.
        del outgoing
        try:
            return await relay(
                request,
                answer.response,
                entry,
                answer.prefix,
                answer.complete,
                rate_headers=entry.rate_headers,
            )
        finally:
            # A no-op once the body was read to the end (the connection is back in the pool);
            # otherwise (client gone, upstream broken) the connection is dropped.
            answer.response.close()

    async def authenticate(self, request: web.Request) -> KeyRecord:
        """The key the client presented (as ``x-api-key`` or ``Authorization: Bearer``)."""
        entry = request[REQUEST_LOG]
        key = await self._keys.authenticate(client_key(request.headers))
        entry.key_id, entry.key_label = key.id, key.label
        return key

    async def exchange(
        self,
        key: KeyRecord,
        outgoing: Outgoing,
        entry: RequestLog,
        *,
        session_from: Mapping[str, str] | None = None,
        prefer: Callable[[Account], bool] | None = None,
        admitted: bool = False,
    ) -> Answer:
        """Send ``outgoing`` with the accounts that may serve ``key``, failing over between them.

        Returns the answer to pass on (the caller relays or translates it and closes its
        response). ``session_from``: the client's headers, for sticky sessions; ``prefer``:
        accounts it holds true for go first (their order otherwise kept). The key's limits are
        checked first (``Governor.admit``; ``admitted``: the caller already did, its own way):
        every client format goes through here.
        """
        body = outgoing.body
        entry.bytes_in = len(body) if body else 0
        if key.limits is not None and not admitted:  # most keys have none: no call at all
            await self._governor.admit(key, entry, body)
        candidates = self._pool.candidates(key)
        if not candidates:
            raise self._pool.unavailable(key)
        # Naming the conversation may parse the body: only worth it when there is a choice.
        sticky = self._scheduler.strategy == "sticky" and len(candidates) > 1
        session = session_key(session_from or {}, body) if sticky else None
        entry.session = session or (session_from or {}).get(SESSION_HEADER)
        ordered = await self._scheduler.order(candidates, session)
        if prefer is not None:
            ordered = sorted(ordered, key=lambda account: not prefer(account))
        state = _Tries(entry.model or model_named(body))
        ordered = self._pool.overloaded_last(ordered, state.model)
        attempts = ordered[: self._max_attempts]
        failure: RouterError | None = None
        for number, account in enumerate(attempts, start=1):
            last = number == len(attempts)
            entry.account, entry.attempts = account.name, number
            try:
                answer = await self._attempt(outgoing, account, state, last=last)
            except UpstreamBusy:
                raise  # the router's own limit, not the account's doing: no other account helps
            except (UpstreamError, NoCredential) as exc:
                await self._pool.note_error(account, exc.message)
                log.warning(
                    "%s: account %s failed: %s", entry.request_id, account.name, exc.message
                )
                failure = exc
                continue
            if answer is None:
                continue
            entry.mark_first_byte()
            entry.upstream_status = answer.response.status
            entry.upstream_request_id = answer.response.headers.get("request-id")
            await self._scheduler.served(session, account)
            return answer
        raise failure if failure is not None else self._pool.unavailable(key)

    async def read_body(self, request: web.Request) -> bytes | None:
        """The request body, refused (413) before it is read when it is over the limit."""
        if not request.body_exists:
            return None
        length = request.content_length
        if length is not None and length > self._max_body_bytes:
            raise self._too_large()
        # Read here rather than with ``request.read()``, which keeps the bytes on the request
        # until the response ends: ``send`` lets go of them once no other account will be tried.
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> RequestTooLarge:
        limit_mb = self._max_body_bytes / (1024 * 1024)
        return RequestTooLarge(
            f"request body is larger than the router's limit of {limit_mb:g} MB "
            "(MAX_REQUEST_BODY_MB)"
        )

    async def _attempt(
        self, outgoing: Outgoing, account: Account, state: _Tries, *, last: bool
    ) -> Answer | None:
        """One account's try: its answer to relay, or None to fail over to the next account."""
        credential = await self._pool.credential_for(account)
        refreshed = False
        while True:
            headers = upstream_request_headers(outgoing.headers, credential)
            response = await self._upstream.send(
                outgoing.method, outgoing.target, headers, outgoing.body
            )
            try:
                answer = await self._inspect(response)
            except BaseException:
                response.close()
                raise
            self._pool.observe(account, parse_quota(response.headers))
            verdict = self._verdict(answer)
            if verdict.kind is VerdictKind.TOKEN_EXPIRED:
                if account.kind == "claude-code" and not refreshed:
                    response.close()  # its error body was read whole: the answer stays usable
                    try:
                        credential = await self._pool.refresh(
                            account, force=True, stale_token=credential.token
                        )
                    except UpstreamError:
                        if last:
                            return answer
                        raise
                    refreshed = True
                    continue
                await self._pool.needs_login(account, verdict.reason or "the token has expired")
                return self._give_up(answer, last)
            if verdict.kind is VerdictKind.OVERLOADED:
                return await self._overloaded(account, answer, state, last=last)
            if verdict.kind in _FAILOVER:
                await self._apply(account, verdict)
                return self._give_up(answer, last)
            if answer.stream_error is not None and verdict.kind is VerdictKind.SERVER_ERROR:
                return self._give_up(answer, last)
            return answer

    async def _overloaded(
        self, account: Account, answer: Answer, state: _Tries, *, last: bool
    ) -> Answer | None:
        """An overload is about a model at a moment, not about a login: the first one rests
        this account for this model only (``OVERLOAD_COOLDOWN_S``); the request goes on to the
        next account after a short pause, and never rests a second one."""
        state.overloads += 1
        if state.overloads == 1:
            self._pool.rest_for_model(account, state.model, time.time() + self._overload_cooldown_s)
        given_up = self._give_up(answer, last)
        if given_up is None:
            await asyncio.sleep(OVERLOAD_BACKOFF_S)
        return given_up

    @staticmethod
    def _give_up(answer: Answer, last: bool) -> Answer | None:
        """Fail over, unless this was the last account: then the client sees this answer."""
        if last:
            return answer
        answer.response.close()
        return None

    def _verdict(self, answer: Answer) -> Verdict:
        now = time.time()
        if answer.stream_error is not None:
            return classify_stream_error(answer.stream_error, now)
        response = answer.response
        return classify(response.status, response.headers, answer.prefix or None, now)

    async def _apply(self, account: Account, verdict: Verdict) -> None:
        reason = verdict.reason or verdict.kind.name.lower()
        if verdict.kind is VerdictKind.WINDOW_REJECTED and verdict.cooldown_until:
            await self._pool.cool_down(account, verdict.cooldown_until, reason)
        elif verdict.kind is VerdictKind.NEEDS_LOGIN:
            await self._pool.needs_login(account, reason)

    async def _inspect(self, response: aiohttp.ClientResponse) -> Answer:
        """Read what deciding on failover needs: an error's body, or a stream's prelude."""
        if response.status >= 400:
            length = response.content_length
            if length is not None and length > _ERROR_BODY_LIMIT:
                return Answer(response)
            try:
                return Answer(response, await response.read(), complete=True)
            except READ_ERRORS as exc:
                raise self._cut_short(exc, "its error response") from exc
        if response.status == 200 and is_event_stream(response):
            return await self._hold_prelude(response)
        return Answer(response)

    def _cut_short(self, exc: BaseException, what: str) -> UpstreamError:
        """An answer that stopped after its headers: silence (a timeout) or a dropped
        connection, named as what it was."""
        if isinstance(exc, asyncio.TimeoutError):
            return UpstreamTimeout(
                f"the upstream sent its headers and then nothing for "
                f"{self._idle_timeout_s:g} s (UPSTREAM_IDLE_TIMEOUT_S) in {what}"
            )
        return UpstreamUnreachable(f"the upstream dropped the connection in {what}")

    async def _hold_prelude(self, response: aiohttp.ClientResponse) -> Answer:
        """Hold a stream's opening events until its first content (or an error) arrives."""
        opening = _Opening()
        try:
            # What came with the headers needs no deadline: often the first content is in it.
            chunk = response.content.read_nowait()
        except READ_ERRORS as exc:
            raise self._cut_short(exc, "the stream's start") from exc
        if chunk and opening.add(chunk):
            return Answer(response, opening.held, stream_error=opening.error)
        try:
            async with asyncio.timeout(_HOLD_LIMIT_S):  # one deadline, not a timer per read
                while len(opening.held) < _HOLD_LIMIT_BYTES:
                    try:
                        chunk = await response.content.readany()
                    except READ_ERRORS as exc:
                        raise self._cut_short(exc, "the stream's start") from exc
                    if not chunk:
                        return Answer(response, opening.held, complete=True)
                    if opening.add(chunk):
                        return Answer(response, opening.held, stream_error=opening.error)
        except TimeoutError:
            pass  # a slow start: pass on what arrived and relay the rest as it comes
        return Answer(response, opening.held)


@dataclass(slots=True)
class _Opening:
    """The start of a stream while it is held: its bytes, how far its events were looked at."""

    held: bytes = b""
    scanned: int = 0  # the events before this point (in LF form) were looked at
    crlf: bool = False
    error: bytes | None = None  # an ``error`` event's data, when the stream began with one

    def add(self, chunk: bytes) -> bool:
        """Hold ``chunk`` too; True once the first content or an error event is in. Events are
        looked at one by one as far as that: a large first read (a whole short answer) is not
        cut up."""
        self.held += chunk
        self.crlf = self.crlf or b"\r" in chunk
        text = lf_lines(self.held) if self.crlf else self.held
        while (end := text.find(b"\n\n", self.scanned)) >= 0:
            name, data = parse_event(text[self.scanned : end])
            self.scanned = end + 2
            if not data:
                continue  # a comment or an empty event: nothing is dispatched
            if name == b"error":
                self.error = data
                return True
            if name not in _PRELUDE_EVENTS:
                return True
        return False


def parse_object(body: bytes | None, *, empty_ok: bool = False) -> dict[str, Any]:
    """A request body as a JSON object (``empty_ok``: an empty body is ``{}``), or a 400 saying
    what is wrong with it."""
    if not body or not body.strip():
        if empty_ok:
            return {}
        raise InvalidRequest("the request body is empty: send a JSON object")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON ({exc.msg})") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return document
