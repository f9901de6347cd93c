import orjson
import pytest

from core.checks import parse_chat, upstream_body
from core.config import GatewaySettings
from core.errors import RequestError

SETTINGS = GatewaySettings(max_messages=3, max_message_bytes=10)
OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def with_(**fields: object) -> bytes:
    return orjson.dumps({**OK, **fields})


@pytest.mark.parametrize(("raw", "code", "param"), [
    (b"{not json", "invalid_json", None),
    (b"[1, 2]", "invalid_json", None),
    (b"\xff\xfe", "invalid_json", None),
    (orjson.dumps({"messages": OK["messages"]}), "missing_model", "model"),
    (with_(model=""), "missing_model", "model"),
    (with_(model=7), "missing_model", "model"),
    (with_(messages=[]), "invalid_messages", "messages"),
    (with_(messages="hi"), "invalid_messages", "messages"),
    (with_(messages=["hi"]), "invalid_messages", "messages[0]"),
    (with_(messages=[{"role": "wizard", "content": "x"}]), "invalid_messages", "messages[0]"),
    (with_(messages=[{"content": "x"}]), "invalid_messages", "messages[0]"),
    (with_(messages=[{"role": "user"}]), "invalid_messages", "messages[0]"),
    (with_(messages=[{"role": "user", "content": 5}]), "invalid_messages", "messages[0]"),
    (with_(messages=[{"role": "user", "content": "x"}] * 4), "too_many_messages", "messages"),
    (with_(messages=[{"role": "user", "content": "x" * 11}]), "message_too_long", "messages[0].content"),
    (with_(messages=[{"role": "user", "content": "é" * 6}]), "message_too_long", "messages[0].content"),
    (with_(messages=[{"role": "user", "content": [{"type": "text", "text": "x" * 11}]}]),
     "message_too_long", "messages[0].content"),
    (with_(stream="yes"), "invalid_type", "stream"),
    (with_(routing="fast"), "invalid_type", "routing"),
])
def test_bad_input_gets_its_code(raw: bytes, code: str, param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        parse_chat(raw, SETTINGS)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, code, param)


def test_valid_requests_pass_untouched() -> None:
    body = {**OK, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
    ], "seed": 3, "extra_vendor_field": {"a": 1}}
    assert parse_chat(orjson.dumps(body), SETTINGS) == body


def test_gateway_fields_are_stripped_and_nothing_else() -> None:
    body = {**OK, "routing": {"prefer": "speed"}, "optimize": True, "user": "u1", "metadata": {"k": "v"}}
    assert upstream_body(body) == {**OK, "user": "u1", "metadata": {"k": "v"}}
    assert upstream_body(OK) is OK        # nothing to strip, nothing copied
