"""Every bad input SPEC.md names, over HTTP: its status, its code, OpenAI's error shape, and nothing sent upstream."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running

MB = 1024 * 1024
AUTH = {"authorization": f"Bearer {TEST_KEY}", "content-type": "application/json"}


def message(content: str) -> dict:
    return {"role": "user", "content": content}


def body(**fields: object) -> bytes:
    return orjson.dumps({"model": "fast", "messages": [message("hi")], **fields})


CASES = [
    ("invalid_json", b'{"model": "fast", "messages": [', 400, "invalid_json"),
    ("json_not_object", b'"just a string"', 400, "invalid_json"),
    ("missing_model", orjson.dumps({"messages": [message("hi")]}), 400, "missing_model"),
    ("empty_messages", body(messages=[]), 400, "invalid_messages"),
    ("bad_role", body(messages=[{"role": "robot", "content": "x"}]), 400, "invalid_messages"),
    ("too_many_messages", body(messages=[message("x")] * 1001), 400, "too_many_messages"),
    ("message_too_long", body(messages=[message("x" * (MB + 1))]), 400, "message_too_long"),
    ("model_not_found", body(model="no-such-model"), 404, "model_not_found"),
    ("deprecated_model", body(model="old"), 400, "deprecated_model"),
    ("context_length_exceeded", body(model="tiny", messages=[message("many words here " * 40)]), 400,
     "context_length_exceeded"),
]


@pytest.mark.parametrize(("raw", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(gateway: Running, upstream_a: FakeOpenAI, raw: bytes, status: int, code: str) -> None:
    response = httpx.post(f"{gateway.base_url}/chat/completions", content=raw, headers=AUTH)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["message"]
    assert error["type"] == "invalid_request_error"
    assert response.headers["x-request-id"]
    assert upstream_a.received == []


def test_exactly_the_limits_are_accepted(client: OpenAI) -> None:
    response = client.chat.completions.create(
        model="reliable", messages=[message("x")] * 999 + [message("y" * MB)])
    assert response.choices[0].message.content


def test_the_sdk_sees_the_code_too(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model", messages=[message("hi")])
    assert caught.value.code == "model_not_found"
    assert caught.value.body["param"] == "model"


def test_missing_and_unknown_keys_are_401(gateway: Running) -> None:
    for headers in ({}, {"authorization": "Bearer sk-not-a-key-at-all"}, {"x-api-key": "nope-nope"}):
        response = httpx.post(f"{gateway.base_url}/chat/completions", content=body(), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.json()["error"]["type"] == "authentication_error"


def test_body_over_10mb_is_refused_from_its_content_length(gateway: Running) -> None:
    raw = body(messages=[message("x" * (5 * MB)), message("y" * (5 * MB))])
    assert len(raw) > 10 * MB
    response = httpx.post(f"{gateway.base_url}/chat/completions", content=raw, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_chunked_body_over_10mb_is_refused(gateway: Running) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "fast", "messages": [{"role": "user", "content": "'
        for _ in range(41):
            yield b"x" * (256 * 1024)     # 10 MB + 256 KB in all, no Content-Length

    response = httpx.post(f"{gateway.base_url}/chat/completions", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_an_endless_body_is_cut_off_not_read_forever(gateway: Running) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while sent < 1024 * MB:          # bounded for safety, far past what the gateway reads
            sent += MB
            yield b"x" * MB

    response = httpx.post(f"{gateway.base_url}/chat/completions", content=endless(), headers=AUTH)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert sent < 200 * MB                # the gateway stopped reading; the client could not go on
