"""The audit log: every admin action on keys and accounts, with who did it and when.

Actors: ``admin-key`` (an API call with ``TOKEN_ADMIN_KEY``), ``loopback`` (an API call from
this machine while no admin key is set), ``cli`` (a command run on the store), ``router`` (the
router itself, such as an account whose login died). Records hold ids and names, never a key,
token or secret. An action that happened is not undone when its record cannot be written: the
failure is logged instead.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from link_assistant_router.errors import StoreError
from link_assistant_router.storage.base import Store
from link_assistant_router.storage.records import AuditRecord
from link_assistant_router.times import iso

__all__ = ["CLI", "ROUTER", "Actor", "AuditLog", "audit_view"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str
    request_id: str | None = None


CLI = Actor("cli")
ROUTER = Actor("router")


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self, action: str, target: str, actor: Actor, details: dict[str, Any] | None = None
    ) -> None:
        record = AuditRecord(
            id=os.urandom(16).hex(),
            at=self._clock(),
            action=action,
            target=target,
            actor=actor.kind,
            request_id=actor.request_id,
            details=orjson.dumps(details).decode() if details else None,
        )
        try:
            await self._store.insert_audit(record)
        except StoreError as exc:
            log.error("could not write the audit record of %s %s: %s", action, target, exc)


def audit_view(record: AuditRecord) -> dict[str, Any]:
    return {
        "at": iso(record.at),
        "action": record.action,
        "target": record.target,
        "actor": record.actor,
        "request_id": record.request_id,
        "details": orjson.loads(record.details) if record.details else {},
    }
