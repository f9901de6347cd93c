"""SEC-17: a value quoted from a request cannot forge a log line."""

from __future__ import annotations

import logging

from core.logs import escape_log_messages


def test_a_line_break_in_a_logged_value_is_escaped_and_a_traceback_keeps_its_lines(caplog) -> None:
    escape_log_messages()
    log = logging.getLogger("apex.test")
    with caplog.at_level(logging.INFO, "apex"):
        log.warning("no route for %s", "gpt/x\r\nCRITICAL apex: forged\x1b[31m")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed on %s", "/v1/x\ny")
    assert caplog.records[0].getMessage() == "no route for gpt/x\\r\\nCRITICAL apex: forged\\x1b[31m"
    assert "\n" not in caplog.records[1].getMessage()
    assert caplog.text.count("\nCRITICAL") == 0 and "Traceback (most recent call last):\n" in caplog.text
