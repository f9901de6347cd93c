"""Log lines a client cannot forge: every message has its control characters escaped, so a value
quoted from a request (a model name, a path) with a line break in it stays on its own line."""

from __future__ import annotations

import logging

# C0 controls and DEL as their escapes ("\n" → "\\n"), tab left as it is.
ESCAPES = {code: (f"\\x{code:02x}" if code not in (10, 13) else "\\n" if code == 10 else "\\r")
           for code in (*range(32), 127) if code != 9}


class EscapedRecord(logging.LogRecord):
    def getMessage(self) -> str:
        return super().getMessage().translate(ESCAPES)


def escape_log_messages() -> None:
    """Every log record made from now on escapes its message (a traceback keeps its lines)."""
    logging.setLogRecordFactory(EscapedRecord)
