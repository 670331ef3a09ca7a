"""The request log line, as text and as JSON."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import orjson
import pytest

from link_assistant_router.logs import FLUSH_S, configure_logging, redact
from link_assistant_router.requestlog import RequestLog


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def finished_request(outcome: str = "ok") -> RequestLog:
    entry = RequestLog("POST", "/v1/messages")
    entry.key_id, entry.key_label = "key-1", "laptop"
    entry.status, entry.upstream_status = 200, 200
    entry.bytes_in, entry.bytes_out = 300, 500
    entry.account, entry.attempts, entry.outcome = "primary", 2, outcome
    entry.upstream_request_id = "req_upstream_1"
    entry.mark_first_byte()
    return entry


def test_json_lines_carry_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    entry = finished_request()
    entry.emit()

    line = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])

    assert line["level"] == "info"
    assert line["time"].endswith("Z") and line["pid"] > 0
    expected = {
        "request_id": entry.request_id,
        "method": "POST",
        "path": "/v1/messages",
        "status": 200,
        "upstream_status": 200,
        "bytes_in": 300,
        "bytes_out": 500,
        "key_id": "key-1",
        "key_label": "laptop",
        "account": "primary",
        "attempts": 2,
        "outcome": "ok",
        "upstream_request_id": "req_upstream_1",
    }
    assert {name: line[name] for name in expected} == expected
    assert line["duration_ms"] >= line["ttfb_ms"] >= 0
    assert line["message"].startswith(entry.request_id + " POST /v1/messages status=200")


def test_text_lines_say_the_same_and_warn_when_it_went_wrong(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")
    finished_request("client_disconnected").emit()

    line = capsys.readouterr().err.strip().splitlines()[-1]

    assert " WARNING link_assistant_router.access: req_lar_" in line
    for part in ("status=200", "upstream=200", "in=300", "out=500", "key=key-1"):
        assert part in line
    assert "label='laptop' account=primary attempts=2 outcome=client_disconnected" in line
    assert line.endswith("upstream_id=req_upstream_1")


def test_at_warning_only_the_requests_that_went_wrong_are_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("WARNING", "text")
    finished_request().emit()
    assert capsys.readouterr().err == ""
    finished_request("upstream_dropped").emit()
    assert "outcome=upstream_dropped" in capsys.readouterr().err


@pytest.mark.parametrize(
    "secret",
    [
        "la_sk_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "sk-ant-oat01-abcDEF_123-xyz",
        "sk-ant-ort01-REFRESH-token_value",
        "sk-ant-api03-key-material",
    ],
)
def test_credentials_are_masked_in_every_format(
    capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    for fmt in ("text", "json"):
        configure_logging("INFO", fmt)
        log = logging.getLogger("link_assistant_router.test")
        log.warning("saw %s in b'x-api-key: %s'", secret, secret)
        try:
            raise ValueError(f"Authorization: Bearer {secret}")
        except ValueError:
            log.exception("failed")
        err = capsys.readouterr().err
        assert secret not in err
        assert secret[6:] not in err
        assert "***" in err


def test_admin_keys_in_credential_headers_are_masked() -> None:
    line = redact("headers {'authorization': 'Bearer my-admin-key-1234', 'x-api-key': 'abc'}")
    assert "my-admin-key" not in line and "abc'" not in line
    assert redact("nothing to see here") == "nothing to see here"


def test_a_json_line_survives_text_that_is_not_utf8(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("link_assistant_router.test").warning("agent %s", "ev\udcffil/1.0")
    line = orjson.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "agent ev\ufffdil/1.0"


def _without_time(line: str, fmt: str) -> object:
    """A line without its time and the request's duration (which the second line differs in)."""
    line = re.sub(r"duration_ms=[0-9.]+", "duration_ms=", line)
    if fmt == "json":
        document = orjson.loads(line)
        del document["time"], document["duration_ms"]
        return document
    return line.split(" ", 1)[1]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("outcome", ["ok", "upstream_dropped"])
def test_the_request_line_written_without_a_record_is_the_records_line(
    capsys: pytest.CaptureFixture[str], fmt: str, outcome: str
) -> None:
    configure_logging("INFO", fmt)
    entry = finished_request(outcome)
    entry.key_label = "la_sk_eyJhbGciOiJIUzI1NiJ9.leaked"  # masked on both ways
    entry.emit()  # the router's handler alone: straight from the entry
    fast = capsys.readouterr().err.strip()

    captured: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = captured.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(catcher)  # another handler: the line goes through a record
    entry.emit()
    logging.getLogger().removeHandler(catcher)
    through_record = capsys.readouterr().err.strip()

    assert len(captured) == 1 and captured[0].request is entry  # type: ignore[attr-defined]
    assert "leaked" not in fast and "la_sk_***" in fast
    assert _without_time(fast, fmt) == _without_time(through_record, fmt)


def test_lines_wait_for_each_other_while_the_loop_runs_and_errors_go_out_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")
    log = logging.getLogger("link_assistant_router.test")

    async def busy_router() -> list[str]:
        seen = []
        finished_request().emit()
        log.info("second")
        seen.append(capsys.readouterr().err)  # both wait for the timer
        await asyncio.sleep(FLUSH_S * 3)
        seen.append(capsys.readouterr().err)  # written together
        log.info("before the warning")
        log.warning("a warning")  # at once, after what was waiting
        seen.append(capsys.readouterr().err)
        log.info("last")
        return seen

    waiting, batch, warned = asyncio.run(busy_router())
    logging.getLogger().handlers[0].flush()  # as logging's shutdown does at exit

    assert waiting == ""
    assert batch.count("\n") == 2 and "outcome=ok" in batch and batch.endswith("second\n")
    assert warned.index("before the warning") < warned.index("a warning")
    assert capsys.readouterr().err.endswith("INFO link_assistant_router.test: last\n")
