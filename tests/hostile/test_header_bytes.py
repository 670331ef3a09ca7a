"""Header values that are not UTF-8 reach the log, the ledger and the metrics as clean text, and
one such request never stops the ledger for anyone else."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from sqlalchemy import text

from tests.conftest import RunningRouter
from tests.hostile.raw import request_bytes, send_raw

MESSAGE = orjson.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
)


async def ledger_rows(router: RunningRouter) -> list[dict[str, object]]:
    await router.parts.ledger.flush()
    engine = router.parts.store.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM usage_events ORDER BY at"))
        return [dict(row._mapping) for row in result]


@pytest.mark.parametrize(
    ("header", "value"),
    [(b"User-Agent", b"ev\xffil/1.0"), (b"X-Claude-Code-Session-Id", b"s\xff\xfe-1")],
)
async def test_a_non_utf8_header_byte_does_not_stop_the_ledger(
    router: RunningRouter, caplog: pytest.LogCaptureFixture, header: bytes, value: bytes
) -> None:
    caplog.set_level(logging.INFO)
    key = (await router.issue_key()).encode()
    evil = request_bytes("POST", "/v1/messages", [(b"x-api-key", key), (header, value)], MESSAGE)
    assert (await send_raw(router.url, evil)).status == 200
    plain = request_bytes("POST", "/v1/messages", [(b"x-api-key", key)], MESSAGE)
    assert (await send_raw(router.url, plain)).status == 200
    await asyncio.sleep(0.05)
    rows = await ledger_rows(router)
    assert len(rows) == 2
    assert all(row["status"] == 200 and row["input_tokens"] for row in rows)
    texts = [str(rows[0]["client"]), str(rows[0]["session"])]
    assert any("\ufffd" in value for value in texts) or header == b"User-Agent"
    # Later flushes go on writing rows.
    assert (await send_raw(router.url, plain)).status == 200
    await asyncio.sleep(0.05)
    assert len(await ledger_rows(router)) == 3
    assert "could not" not in caplog.text
