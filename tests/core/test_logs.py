"""SEC-17: a value quoted from a request cannot forge a log line."""

from __future__ import annotations

import logging

import pytest

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


@pytest.mark.anyio
async def test_a_request_line_stays_one_line_in_text_and_in_json() -> None:
    import asyncio
    import io
    import json

    from core.context import RequestContext
    from core.logs import RequestLines
    from core.observe import Observer
    from core.usage import Attempt, Meter

    forged = 'gpt/x\n2026-12-05 12:00:00,000 INFO apex.request: POST /v1/admin/keys 200 key=admin "quoted"'
    request = RequestContext("req_1")
    request.meter = Meter("key_1", "req_1", key_prefix="sk-apex-Ab3d…", model=forged,
                          attempts=[Attempt("up", "error 500", 3, "m")])
    scope = {"method": "POST", "apex.endpoint": "/v1/chat/completions"}
    for log_format in ("text", "json"):
        out = io.StringIO()
        observer = Observer({"m"}, RequestLines(log_format, out))
        observer.end(request, scope, 404, 0.0, None, None)
        observer.end(request, scope, 404, 0.0, None, None)
        assert out.getvalue() == ""                   # written in a batch, soon after
        await asyncio.sleep(RequestLines.DELAY_S * 2)
        written = out.getvalue().splitlines()
        assert len(written) == 2
        if log_format == "json":
            assert json.loads(written[0])["asked"] == forged and json.loads(written[0])["model"] == "rejected"
        else:
            assert " INFO apex.request: POST /v1/chat/completions 404 request_id=req_1 " in written[0]
            assert "asked=gpt/x\\n2026-12-05_12:00:00,000_INFO" in written[0]
            assert "attempts=up:error_500:3ms" in written[0] and "ttfb_ms" not in written[0]
