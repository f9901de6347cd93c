"""Log lines a client cannot forge: every message has its control characters escaped, so a value
quoted from a request (a model name, a path) with a line break in it stays on its own line."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import IO, Any

import orjson

# C0 controls and DEL as their escapes ("\n" → "\\n"), tab left as it is.
ESCAPES = {code: (f"\\x{code:02x}" if code not in (10, 13) else "\\n" if code == 10 else "\\r")
           for code in (*range(32), 127) if code != 9}


class EscapedRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return super().getMessage().translate(ESCAPES)


def escape_log_messages() -> None:
    """Every log record made from now on escapes its message (a traceback keeps its lines)."""
    logging.setLogRecordFactory(EscapedRecord)


# -- how lines are written ------------------------------------------------------------------------
# `apex serve --log-format json|text --log-level LEVEL` (APEX_LOG_FORMAT, APEX_LOG_LEVEL); JSON on Lambda.
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
REQUEST_LOGGER = "apex.request"       # one line per request, at INFO


TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger and message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def line_head(message: str) -> dict[str, Any]:
    """What a JSON request line begins with: time, level, logger, message."""
    return {"ts": round(time.time(), 3), "level": "info", "logger": REQUEST_LOGGER, "message": message}


class RequestLines:
    """The request lines (`apex.request`, at INFO), in the process's log format, made without a
    LogRecord and written in batches — within `DELAY_S` of the first, or at `BATCH` lines: through
    `logging` a line cost ~45 µs, most of a request's own time, and a write a line as much again.
    JSON lines carry the request's fields at the top level."""

    DELAY_S = 0.05
    BATCH = 256

    def __init__(self, log_format: str, stream: IO[str] | None = None) -> None:
        self.json = log_format == "json"
        self._stream = stream or sys.stderr
        self._pending: list[Any] = []            # text: str; JSON: bytes
        self._second = (0, "")

    def write(self, line: dict[str, Any]) -> None:
        """A JSON line, `line_head` first (kept as bytes until its batch is written)."""
        self._add(orjson.dumps(line))

    def write_text(self, message: str) -> None:
        """A text line: the message, made by the caller (`name=value` pairs, client values `clean`ed)."""
        self._add(f"{self._stamp(time.time())} INFO {REQUEST_LOGGER}: {message}")

    def _add(self, line: str | bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_later(self.DELAY_S, self.flush)
        self._pending.append(line)
        if len(self._pending) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            lines, self._pending = self._pending, []
            self._stream.write((b"\n".join(lines).decode() if self.json else "\n".join(lines)) + "\n")
            self._stream.flush()

    def _stamp(self, now: float) -> str:
        """`2026-12-05 12:01:07,412`, as logging writes it; the date and time formatted once a second."""
        second = int(now)
        if self._second[0] != second:
            self._second = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)))
        return f"{self._second[1]},{int((now - second) * 1000):03d}"


def clean(value: str) -> str:
    """A value quoted from a client, made one word for a text line: control characters escaped,
    spaces as `_`."""
    return value.translate(ESCAPES).replace(" ", "_")


def configure(log_format: str, level: str, stream: IO[str] | None = None) -> None:
    """Every line this process logs, in `log_format`, from `level` up, to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
