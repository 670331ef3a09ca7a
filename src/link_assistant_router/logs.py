"""Logging set-up: plain text lines or one JSON object per line, chosen by LOG_FORMAT.

Lines go to stderr in batches (``LineHandler``): while the event loop runs, a line waits at most
``FLUSH_S`` for the lines after it, so a busy router makes one write for many requests instead
of one per request; a warning or an error is written at once, with the lines before it. The
request line does not pass through a ``LogRecord`` at all when this handler is the only one
(``LineHandler.access``): it is formatted straight from the request's record.

Whatever a line holds, a credential in it is masked before it is written (``redact``): la_sk_
keys, Anthropic tokens and API keys, and the values of credential headers. aiohttp's own report
of a malformed request (a traceback that quotes the raw header line) becomes one line that says
what was wrong and quotes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import time
from typing import Any, TextIO

import orjson
from aiohttp.http_exceptions import HttpProcessingError

from link_assistant_router.requestlog import RequestLog, clean_text

__all__ = [
    "FLUSH_S",
    "JsonFormatter",
    "LineHandler",
    "MalformedRequests",
    "TextFormatter",
    "configure_logging",
    "redact",
]

# The longest a line waits in the buffer for others while the event loop runs, and the most
# lines it holds before they are written anyway.
FLUSH_S = 0.1
_MAX_LINES = 256

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


_TOKENS = re.compile(r"(la_sk_|sk-ant-[a-z]+\d*-)[A-Za-z0-9_.\-]+")
_CREDENTIAL_HEADERS = re.compile(
    r"(?i)(authorization|x-api-key|cookie)([\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+)?"
    r"[^\s\"',}\\]+"
)


def redact(text: str) -> str:
    """``text`` with every credential in it masked."""
    # Substring tests first: a log line per request rarely holds any of these, and they cost
    # a tenth of a case-insensitive regex search.
    if "sk" not in text:
        lowered = text.lower()
        if "authoriz" not in lowered and "api-key" not in lowered and "cookie" not in lowered:
            return text
    text = _TOKENS.sub(r"\1***", text)
    return _CREDENTIAL_HEADERS.sub(r"\1\2***", text)


class _Seconds:
    """The formatted UTC second of a timestamp, remembered: a log line per request adds up."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._seconds = _Seconds()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self._seconds(record.created)}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def access_line(self, level: int, name: str, entry: RequestLog, message: str) -> str:
        """What ``format`` makes of the request line's record, made without the record."""
        created = time.time()
        msecs = int((created - int(created)) * 1000)
        level_name = logging.getLevelName(level)
        return redact(f"{self._seconds(created)}.{msecs:03d}Z {level_name} {name}: {message}")


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": f"{self._seconds(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name == "request" and isinstance(value, RequestLog):
                entry.update(value.fields())
            elif name not in _STANDARD:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._line(entry)

    def access_line(self, level: int, name: str, entry: RequestLog, message: str) -> str:
        """What ``format`` makes of the request line's record, made without the record."""
        created = time.time()
        return self._line(
            {
                "time": f"{self._seconds(created)}.{int((created - int(created)) * 1000):03d}Z",
                "level": logging.getLevelName(level).lower(),
                "logger": name,
                "pid": os.getpid(),
                "message": message,
                **entry.fields(),
            }
        )

    @staticmethod
    def _line(entry: dict[str, Any]) -> str:
        try:
            line = orjson.dumps(entry, default=str)
        except orjson.JSONEncodeError:  # text that is not UTF-8 (a lone surrogate)
            clean = {k: clean_text(v) if isinstance(v, str) else v for k, v in entry.items()}
            line = orjson.dumps(clean, default=lambda value: clean_text(str(value)))
        return redact(line.decode())


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes in batches (the module's docstring): lines wait in a list
    until ``FLUSH_S`` after the first of them, ``_MAX_LINES`` of them, a warning or an error,
    or a ``flush()`` (logging's shutdown at exit calls it); without a running event loop (the
    command line, start-up) every line is written at once."""

    def __init__(self, stream: TextIO, formatter: TextFormatter | JsonFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self._access_format = formatter.access_line
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._queue(line, record.levelno)

    def access(self, level: int, name: str, entry: RequestLog, message: str) -> None:
        """The request line of ``entry`` (``RequestLog.emit``), as ``emit`` would write it."""
        self._queue(self._access_format(level, name, entry, message), level)

    def _queue(self, line: str, level: int) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            if level >= logging.WARNING or len(self._lines) >= _MAX_LINES:
                self._write()
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop here (start-up, another thread): now
                self._write()
                return
            if self._timer is None or self._timer_loop is not loop:
                self._timer = loop.call_later(FLUSH_S, self.flush)
                self._timer_loop = loop

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_loop = None
        lines, self._lines = self._lines, []
        if lines and self.stream is not None:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed or gone: nothing to write to
                pass


class MalformedRequests(logging.Filter):
    """aiohttp's ERROR with a traceback for a request it could not parse (which quotes the raw
    line, credentials and all) -> one WARNING saying what was wrong, quoting nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            what = (exc.message or type(exc).__name__).splitlines()[0].rstrip(":") or "bad request"
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "malformed request from %s: %s", (peer, what)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(level: str, fmt: str) -> None:
    """Send the router's logs to stderr at ``level`` in ``fmt`` ("text" or "json")."""
    handler = LineHandler(sys.stderr, JsonFormatter() if fmt == "json" else TextFormatter())
    # A line per request: skip what no line shows (the caller's file and line, found by walking
    # the stack; thread and multiprocessing names). The process id stays: JSON lines carry it.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log would repeat ours without the router's fields.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())
    # The router's debug lines, not its libraries' (which log every statement they run; at
    # INFO SQLAlchemy logs every statement and its parameters).
    for chatty, floor in (
        ("aiosqlite", logging.INFO),
        ("asyncio", logging.INFO),
        ("asyncpg", logging.INFO),
        ("sqlalchemy", logging.WARNING),
    ):
        logging.getLogger(chatty).setLevel(max(floor, logging.getLevelName(level)))
