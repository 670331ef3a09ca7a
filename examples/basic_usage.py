"""Issue, verify and revoke an la_sk_ key through the library API, on a throwaway SQLite store.

.venv/bin/python examples/basic_usage.py
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path

from link_assistant_router.errors import PermissionDenied
from link_assistant_router.governance.keys import KeyService
from link_assistant_router.storage.sql import open_store


async def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(f"sqlite+aiosqlite:///{Path(scratch) / 'router.db'}")
        await store.open()
        try:
            # cache_ttl_s=0: every check reads the store, so the revocation shows at once.
            keys = KeyService(store, secrets.token_bytes(48), cache_ttl_s=0)

            issued = await keys.issue(ttl_hours=1, label="example")
            print("issued key", issued.record.id, "expires", issued.record.expires_at)

            record = await keys.authenticate(issued.token)
            print("verified: label", repr(record.label))

            await keys.revoke(record.id)
            try:
                await keys.authenticate(issued.token)
            except PermissionDenied as exc:
                print("after revocation:", exc.message)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
