"""Hand-written bad input on every endpoint: bodies that are not objects or not UTF-8, wrong types in
every field, huge numbers, deep nesting, duplicate keys, a 10 KB model name, a body one byte over
the limit, 1001 messages, and CR/LF in headers. Never a 5xx; every error in the endpoint's format."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, run_gateway, with_both_fakes

MB = 1024 * 1024
AUTH = {"authorization": f"Bearer {TEST_KEY}"}
HI = [{"role": "user", "content": "hi"}]
# Each endpoint: its error format, and the smallest body it serves.
ENDPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "/v1/chat/completions": ("openai", {"model": "gpt-x", "messages": HI}),
    "/v1/completions": ("openai", {"model": "gpt-x", "prompt": "hi"}),
    "/v1/embeddings": ("openai", {"model": "embed", "input": "hi"}),
    "/v1/images/generations": ("openai", {"model": "image", "prompt": "a cat"}),
    "/v1/messages": ("anthropic", {"model": "claude-x", "max_tokens": 5, "messages": HI}),
    "/v1/messages/count_tokens": ("anthropic", {"model": "claude-x", "messages": HI}),
    "/v1/responses": ("openai", {"model": "gpt-x", "input": "hi"}),
    "/v1/optimize": ("aptrouter", {"prompt": "hi"}),
}
WRONG = [None, True, 0, -1, 2**63, 1.5, "", "x", [], [None], [[]], {}, {"": {}}]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    with run_gateway(with_both_fakes(upstream_a.base_url, upstream_claude.url), dynamo_url) as running:
        yield running


HTTP = httpx.Client(timeout=30)      # one client: making one costs more than a request here


def post(gateway: Running, path: str, raw: bytes | Iterator[bytes]) -> httpx.Response:
    return HTTP.post(f"{gateway.url}{path}", content=raw, headers={**AUTH, "content-type": "application/json"})


def error_code(response: httpx.Response, fmt: str) -> str:
    """The response's error code, once its body is checked to be that endpoint's error format."""
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if fmt == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return str(body["error"]["type"])
    if fmt == "aptrouter":
        assert body["success"] is False and {"code", "message"} <= set(body["error"])
        return str(body["error"]["details"]["code"])
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return str(body["error"]["code"])


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"text"', b"123", b"{", b'{"model": "gpt-x",}',
                                 b"\xff\xfe{}", b'{"model": "gpt\xff-x"}', b'{"model": "\\ud800"}',
                                 b'{"model": 1e999}', b'{"max_tokens": 123456789012345678901234567890}',
                                 b"[" * 100_000 + b"]" * 100_000],
                         ids=["empty", "null", "array", "string", "number", "truncated", "trailing-comma",
                              "utf16-bom", "invalid-utf8", "lone-surrogate", "float-overflow", "int-overflow",
                              "nested-100k"])
def test_a_body_that_is_no_json_object(gateway: Running, upstream_a, upstream_claude, path: str, raw: bytes) -> None:
    fmt = ENDPOINTS[path][0]
    response = post(gateway, path, raw)
    assert response.status_code == 400
    error_code(response, fmt)
    assert upstream_a.received == [] and upstream_claude.received == []


@pytest.mark.parametrize("path", ENDPOINTS)
def test_wrong_types_in_every_field(gateway: Running, path: str) -> None:
    fmt, valid = ENDPOINTS[path]
    fields = [*valid, "stream", "temperature", "max_tokens", "tools", "metadata", "n", "stop", "system"]
    for field in fields:
        for wrong in WRONG:
            response = post(gateway, path, orjson.dumps({**valid, field: wrong}))
            if response.status_code >= 400:
                error_code(response, fmt)
            else:
                assert response.status_code == 200, (field, wrong, response.status_code)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("number", [2**63 - 1, -(2**63), 1.7976931348623157e308, -1e308, 5e-324])
def test_huge_numbers(gateway: Running, path: str, number: float) -> None:
    fmt, valid = ENDPOINTS[path]
    for field in ("max_tokens", "n", "dimensions", "temperature", "similarity_threshold", "top_k"):
        response = post(gateway, path, orjson.dumps({**valid, field: number}))
        if response.status_code >= 400:
            error_code(response, fmt)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("depth", [200, 1000, 5000])
def test_deep_nesting_inside_a_valid_request(gateway: Running, path: str, depth: int) -> None:
    fmt, valid = ENDPOINTS[path]
    nested = b"[" * depth + b"]" * depth
    for field in (b"metadata", b"tools", b"messages"):
        raw = orjson.dumps(valid)[:-1] + b', "' + field + b'": ' + nested + b"}"
        response = post(gateway, path, raw)
        if response.status_code >= 400:
            error_code(response, fmt)


def test_duplicate_keys_the_last_wins_and_is_what_goes_upstream(gateway: Running, upstream_a: FakeOpenAI) -> None:
    raw = (b'{"model": "no-such-model", "messages": [], '
           b'"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}')
    response = post(gateway, "/v1/chat/completions", raw)
    assert response.status_code == 200
    assert upstream_a.last.body["model"] == "gpt-4o" and upstream_a.last.body["messages"] == HI
    response = post(gateway, "/v1/chat/completions", raw.replace(b'"model": "gpt-x"', b'"model": "nope"'))
    assert response.status_code == 404 and error_code(response, "openai") == "model_not_found"


@pytest.mark.parametrize("path", [path for path, (_, valid) in ENDPOINTS.items() if "model" in valid])
def test_a_10kb_model_name_is_refused_without_being_echoed_whole(gateway: Running, path: str) -> None:
    fmt, valid = ENDPOINTS[path]
    for model in ("m" * 10_240, "gpt/" + "m" * 10_240):
        response = post(gateway, path, orjson.dumps({**valid, "model": model}))
        if response.status_code >= 400:
            error_code(response, fmt)
        assert len(response.content) < 2_000 or response.status_code == 200


def test_a_long_model_name_is_not_echoed_and_a_10kb_one_is_refused(gateway: Running) -> None:
    response = post(gateway, "/v1/chat/completions", orjson.dumps({"model": "m" * 256, "messages": HI}))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"The model '{'m' * 64}… (256 characters)' does not exist"
    response = post(gateway, "/v1/chat/completions", orjson.dumps({"model": "m" * 10_240, "messages": HI}))
    assert response.status_code == 400
    assert response.json()["error"] == {"message": "model: at most 256 characters", "type": "invalid_request_error",
                                        "param": "model", "code": "invalid_model"}


def test_a_body_of_a_million_empty_objects_is_refused_before_it_is_parsed(gateway: Running) -> None:
    """SEC-14: 3.4 million `{}` in a 10 MB body once took 367 MB of heap to parse."""
    raw = b'{"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "pad": [' + b"{}," * 1_000_000 + b"{}]}"
    response = post(gateway, "/v1/chat/completions", raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
    assert "1,000,000 arrays and objects" in response.json()["error"]["message"]


def test_more_inputs_than_openai_allows_are_refused(gateway: Running) -> None:
    response = post(gateway, "/v1/embeddings", orjson.dumps({"model": "embed", "input": ["x"] * 2049}))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"


def exactly(size: int) -> bytes:
    """A valid chat request of exactly `size` bytes: padded by a field that passes through."""
    head = orjson.dumps({"model": "gpt-x", "messages": HI, "pad": ""})
    return head[:-2] + b"x" * (size - len(head)) + b'"}'


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_10mb_is_served_and_one_byte_more_is_413(gateway: Running, declared: bool) -> None:
    for size, status in ((10 * MB, 200), (10 * MB + 1, 413)):
        raw = exactly(size)
        assert len(raw) == size
        content = raw if declared else iter([raw[i:i + 65536] for i in range(0, size, 65536)])
        response = post(gateway, "/v1/chat/completions", content)
        assert response.status_code == status
        if status == 413:
            assert error_code(response, "openai") == "request_too_large"


@pytest.mark.parametrize(("path", "body", "fmt"), [
    ("/v1/chat/completions", {"model": "gpt-x", "messages": HI * 1001}, "openai"),
    ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": HI * 1001}, "anthropic"),
    ("/v1/messages/count_tokens", {"model": "claude-x", "messages": HI * 1001}, "anthropic"),
    ("/v1/responses", {"model": "gpt-x", "input": HI * 1001}, "openai"),
])
def test_1001_messages(gateway: Running, upstream_a, upstream_claude, path: str, body: dict, fmt: str) -> None:
    response = post(gateway, path, orjson.dumps(body))
    assert response.status_code == 400
    code = error_code(response, fmt)
    assert code == ("invalid_request_error" if fmt == "anthropic" else "too_many_messages")
    assert "1000" in response.text
    assert upstream_a.received == [] and upstream_claude.received == []


def raw_request(gateway: Running, head: bytes) -> bytes:
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("header", [
    b"X-Request-Id: abc\rSet-Cookie: injected=1",
    b"X-Request-Id: abc\nSet-Cookie: injected=1",
    b"Authorization: Bearer " + TEST_KEY.encode() + b"\r X-Extra: 1",
    b"X-Api-Key: \x00\x01\x02",
    b" folded-continuation-line",
])
def test_control_characters_in_headers_are_refused_by_the_http_layer(gateway: Running, header: bytes) -> None:
    body = orjson.dumps({"model": "gpt-x", "messages": HI})
    answer = raw_request(gateway, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         + header + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 401)
    assert b"injected" not in answer and b"Set-Cookie" not in answer.split(b"\r\n\r\n")[0]


def test_a_request_id_that_is_not_plain_is_replaced_not_echoed(gateway: Running) -> None:
    for sent in ("abc%0d%0aSet-Cookie:x", "a" * 200, "<script>", "ok\tid"):
        response = HTTP.post(f"{gateway.base_url}/chat/completions", headers={**AUTH, "x-request-id": sent},
                             json={"model": "gpt-x", "messages": HI})
        assert response.status_code == 200 and response.headers["x-request-id"] != sent
    kept = HTTP.post(f"{gateway.base_url}/chat/completions", headers={**AUTH, "x-request-id": "trace-42.a:b"},
                     json={"model": "gpt-x", "messages": HI})
    assert kept.headers["x-request-id"] == "trace-42.a:b"


def test_an_images_request_has_a_body_limit_of_its_own(gateway: Running) -> None:
    """SEC-14: every endpoint took 10 MB bodies; an image request needs a prompt and a few settings."""
    raw = orjson.dumps({"model": "image", "prompt": "x" * 300_000})
    response = post(gateway, "/v1/images/generations", raw)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
