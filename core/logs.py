"""Log lines a client cannot forge: every message has its control characters escaped, so a value
quoted from a request (a model name, a path) with a line break in it stays on its own line."""

from __future__ import annotations

import logging
import sys
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


def _escaped(value: object) -> str:
    return str(value).translate(ESCAPES)


def _text_fields(fields: dict[str, Any]) -> str:
    """A request's fields as `name=value` pairs, client-quoted values escaped (a space in one is too)."""
    parts = []
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        if name == "attempts":
            value = ",".join(f"{a['provider']}:{a['outcome']}:{a['ms']}ms" for a in value)
        elif isinstance(value, float):
            value = f"{value:.8f}".rstrip("0").rstrip(".") if name == "cost" else f"{value:g}"
        parts.append(f"{name}={_escaped(value).replace(' ', '_')}")
    return " ".join(parts)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "apex", None)
        line = super().format(record)
        return f"{line} {_text_fields(fields)}" if fields else line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and a request line's fields at the top
    level (with, on Lambda, the `_aws` block that makes it CloudWatch metrics too)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        if fields := getattr(record, "apex", None):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(log_format: str, level: str, stream: IO[str] | None = None) -> None:
    """Every line this process logs, in `log_format`, from `level` up, to `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
