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
    # shapes a translation reads, refused before any upstream call on every route
    (with_(messages=[{"role": "user", "content": ["hi"]}]), "invalid_messages", "messages[0].content[0]"),
    (with_(messages=[{"role": "user", "content": [{"text": "hi"}]}]), "invalid_messages",
     "messages[0].content[0].type"),
    (with_(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}]), "invalid_messages",
     "messages[0].content[0].text"),
    (with_(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 1}}]}]),
     "invalid_messages", "messages[0].content[0].image_url.url"),
    (with_(messages=[{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]),
     "invalid_messages", "messages[0].tool_calls[0].function.arguments"),
    (with_(messages=[{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]}]),
     "invalid_messages", "messages[0].tool_calls[0].function"),
    (with_(temperature="hot"), "invalid_type", "temperature"),
    (with_(temperature=True), "invalid_type", "temperature"),
    (with_(stop=["a", 1]), "invalid_type", "stop[1]"),
    (with_(tools=[{"type": "function", "function": {"description": "no name"}}]), "invalid_type",
     "tools[0].function.name"),
    (with_(tool_choice={"type": "function", "function": {}}), "invalid_type", "tool_choice.function.name"),
])
def test_bad_input_gets_its_code(raw: bytes, code: str, param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        parse_chat(raw, SETTINGS)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, code, param)


def test_valid_requests_pass_untouched() -> None:
    body = {**OK, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "d", "type": "custom", "custom": {"name": "patch", "input": "*** Begin Patch"}}]},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "ok"},
                                                           {"type": "future_part", "anything": [1]}]},
    ], "seed": 3, "extra_vendor_field": {"a": 1}, "tools": [{"type": "custom", "custom": {"name": "patch"}}]}
    assert parse_chat(orjson.dumps(body), SETTINGS) == body      # unknown part and tool types pass through


def test_gateway_fields_are_stripped_and_nothing_else() -> None:
    body = {**OK, "routing": {"prefer": "speed"}, "optimize": True, "user": "u1", "metadata": {"k": "v"}}
    assert upstream_body(body) == {**OK, "user": "u1", "metadata": {"k": "v"}}
    assert upstream_body(OK) is OK        # nothing to strip, nothing copied
