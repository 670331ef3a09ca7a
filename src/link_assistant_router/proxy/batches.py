"""Anthropic's Message Batches API, governed (only with ``BATCHES=true``).

A batch is many Messages requests answered later, so it is governed where each part happens:

- creating one (``POST /v1/messages/batches``): every request's model against the key's model
  limits, the batch's worst case (the sum of its requests' ``max_tokens``, plus what the key's
  other uncounted batches hold) against every budget, and one request against rate and
  concurrency. The batch is recorded as the key's, on the account that took it;
- every later call on it (``GET .../{id}``, ``/results``, ``/cancel``, ``DELETE``) goes to that
  account, and only for the key that created it (another key's batch id is not found);
- its usage is counted when its results are read to the end, once: a ledger row per model,
  attributed to the key, which then count against its budgets;
- the list (``GET /v1/messages/batches``) shows the key's own batches, newest first.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from link_assistant_router.errors import InvalidRequest, NotFound, UpstreamUnreachable
from link_assistant_router.governance.governor import Governor
from link_assistant_router.proxy.headers import client_response_headers
from link_assistant_router.proxy.passthrough import LATEST_PREFIX
from link_assistant_router.proxy.pipeline import Answer, Outgoing, Proxy
from link_assistant_router.proxy.relay import read_rest, relay
from link_assistant_router.requestlog import REQUEST_LOG, Outcome, RequestLog, Usage
from link_assistant_router.routes import Route
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import BatchRecord, KeyRecord

__all__ = ["Batches", "ResultsMeter"]

MAX_LISTED = 100
_PATH = "/v1/messages/batches"


class ResultsMeter:
    """Reads a batch's results (JSON Lines, in any slices) as they pass: the usage and model of
    every succeeded request, summed per model. Keeps only an unfinished line."""

    def __init__(self) -> None:
        self.by_model: dict[str, Usage] = {}
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._partial.strip():
            self._line(self._partial)
        self._partial = b""

    def _line(self, line: bytes) -> None:
        if b'"succeeded"' not in line:
            return
        try:
            result = orjson.loads(line).get("result") or {}
            message = result.get("message") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return
        if not isinstance(message, dict) or result.get("type") != "succeeded":
            return
        model = message.get("model")
        if not isinstance(model, str):
            model = ""
        counted = Usage()
        counted.update(message.get("usage"))
        self.by_model.setdefault(model, Usage()).add(counted)


class Batches:
    """The batch routes. ``finished`` is what the app does with a finished request (metrics,
    the ledger): the extra rows of a batch's results go there too."""

    def __init__(
        self,
        proxy: Proxy,
        store: Store,
        governor: Governor,
        finished: Callable[[RequestLog], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._proxy = proxy
        self._store = store
        self._governor = governor
        self._finished = finished
        self._clock = clock

    def routes(self) -> list[Route]:
        routes = []
        for prefix in ("", LATEST_PREFIX):
            path = prefix + _PATH
            routes += [
                Route("POST", path, self.create, "batches"),
                Route("GET", path, self.list, "batches"),
                Route("GET", path + "/{batch_id}", self.forward, "batches"),
                Route("GET", path + "/{batch_id}/results", self.results, "batches"),
                Route("POST", path + "/{batch_id}/cancel", self.forward, "batches"),
                Route("DELETE", path + "/{batch_id}", self.forward, "batches"),
            ]
        return routes

    async def create(self, request: web.Request) -> web.StreamResponse:
        entry = request[REQUEST_LOG]
        key = await self._proxy.authenticate(request)
        body = await self._proxy.read_body(request)
        strict = key.limits is not None and bool(key.limits.models)
        models, worst_case = _read_batch(body, strict)
        held = 0
        if key.limits is not None and key.limits.budgets:
            held = await self._store.uncounted_batch_tokens(key.id)
        await self._governor.admit_batch(key, entry, models, worst_case, held)
        outgoing = Outgoing("POST", _PATH, request.headers.items(), body)
        answer = await self._proxy.exchange(
            key, outgoing, entry, session_from=request.headers, admitted=True
        )
        headers = client_response_headers(answer.response.headers.items())
        status, raw = await _whole(answer)
        entry.bytes_out = len(raw)
        if status == 200:
            batch_id = _batch_id(raw)
            record = BatchRecord(batch_id, key.id, entry.account or "", self._clock(), worst_case)
            await self._store.insert_batch(record)
        return web.Response(status=status, headers=headers, body=raw)

    async def list(self, request: web.Request) -> web.StreamResponse:
        """The key's own batches (newest first), each as the upstream describes it now."""
        key = await self._proxy.authenticate(request)
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError as exc:
            raise InvalidRequest("limit must be a whole number") from exc
        if not 1 <= limit <= MAX_LISTED:
            raise InvalidRequest(f"limit must be from 1 to {MAX_LISTED}")
        entry = request[REQUEST_LOG]
        await self._governor.admit(key, entry, None)  # one request, however many batches
        batches = []
        for record in await self._store.list_batches(key.id, limit):
            outgoing = Outgoing("GET", f"{_PATH}/{record.id}", request.headers.items(), None)
            answer = await self._proxy.exchange(
                _served_by(key, record), outgoing, entry, admitted=True
            )
            status, raw = await _whole(answer)
            if status == 200:
                batches.append(orjson.loads(raw))
        body = orjson.dumps(
            {
                "data": batches,
                "has_more": False,
                "first_id": batches[0]["id"] if batches else None,
                "last_id": batches[-1]["id"] if batches else None,
            }
        )
        entry.bytes_out = len(body)
        return web.Response(body=body, content_type="application/json")

    async def forward(self, request: web.Request) -> web.StreamResponse:
        """A call on one batch: only for its key, and to the account that holds it."""
        key, record = await self._owned(request)
        body = await self._proxy.read_body(request)
        target = request.raw_path.removeprefix(LATEST_PREFIX)
        outgoing = Outgoing(request.method, target, request.headers.items(), body)
        return await self._proxy.send(request, _served_by(key, record), outgoing)

    async def results(self, request: web.Request) -> web.StreamResponse:
        """The results, relayed as they come; counted once, when read to the end."""
        key, record = await self._owned(request)
        entry = request[REQUEST_LOG]
        outgoing = Outgoing("GET", f"{_PATH}/{record.id}/results", request.headers.items(), None)
        answer = await self._proxy.exchange(_served_by(key, record), outgoing, entry)
        meter = ResultsMeter()
        try:
            response = await relay(
                request,
                answer.response,
                entry,
                answer.prefix,
                answer.complete,
                tap=meter.feed if answer.response.status == 200 else None,
            )
        finally:
            answer.response.close()
        if answer.response.status == 200 and entry.outcome == Outcome.OK:
            meter.close()
            if await self._store.mark_batch_counted(record.id, self._clock()):
                self._count(entry, meter.by_model)
        return response

    def _count(self, entry: RequestLog, by_model: dict[str, Usage]) -> None:
        """This request's row carries the first model's usage; each other model gets a row of
        its own, finished as a request would be (metrics, ledger, budgets)."""
        models = sorted(by_model)
        if not models:
            return
        entry.model, entry.usage = models[0], by_model[models[0]]
        for number, model in enumerate(models[1:], start=1):
            extra = RequestLog(entry.method, entry.path)
            extra.request_id = f"{entry.request_id}-{number}"
            for name in ("route", "key_id", "key_label", "account", "status", "client", "remote"):
                setattr(extra, name, getattr(entry, name))
            extra.status = 200
            extra.model, extra.usage = model, by_model[model]
            self._finished(extra)

    async def _owned(self, request: web.Request) -> tuple[KeyRecord, BatchRecord]:
        key = await self._proxy.authenticate(request)
        batch_id = request.match_info["batch_id"]
        record = await self._store.get_batch(batch_id)
        if record is None or record.key_id != key.id:
            raise NotFound(f"no batch {batch_id[:100]!r} was created with this key")
        return key, record


async def _whole(answer: Answer) -> tuple[int, bytes]:
    """An answer's status and whole body (a batch object: small), its connection released."""
    try:
        raw = answer.prefix if answer.complete else await read_rest(answer.response, answer.prefix)
        return answer.response.status, raw
    finally:
        answer.response.close()


def _served_by(key: KeyRecord, record: BatchRecord) -> KeyRecord:
    """The key, bound for this call to the account that holds the batch."""
    return dataclasses.replace(key, account=record.account, group=None)


def _read_batch(body: bytes | None, strict: bool) -> tuple[list[str | None], int]:
    """Each request's model (None when it cannot be read) and the sum of their max_tokens.
    ``strict`` (a key held to some models): a body naming any key twice is refused, since
    parsers disagree on which one wins."""
    if not body:
        raise InvalidRequest("the request body is empty: send a JSON object with requests")
    try:
        document = (
            json.loads(body, object_pairs_hook=_no_repeats, parse_constant=_no_constant)
            if strict
            else orjson.loads(body)
        )
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidRequest(f"the request body is not JSON the router can read ({exc})") from exc
    requests = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(requests, list) or not requests:
        raise InvalidRequest("requests must be a non-empty list")
    models: list[str | None] = []
    worst_case = 0
    for number, item in enumerate(requests):
        params = item.get("params") if isinstance(item, dict) else None
        if not isinstance(params, dict):
            raise InvalidRequest(f"requests[{number}].params must be an object")
        model = params.get("model")
        models.append(model if isinstance(model, str) else None)
        max_tokens = params.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequest(f"requests[{number}].params.max_tokens must be a whole number")
        worst_case += max_tokens
    return models, worst_case


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("a key appears twice in one object")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _batch_id(raw: bytes) -> str:
    try:
        batch_id = orjson.loads(raw)["id"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise UpstreamUnreachable("the upstream's answer to a new batch had no id") from exc
    if not isinstance(batch_id, str) or not batch_id:
        raise UpstreamUnreachable("the upstream's answer to a new batch had no id")
    return batch_id
