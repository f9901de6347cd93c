"""`/v1/optimize` in the AptRouter seed's format, and `"optimize": true` on chat completions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

VERBOSE = ("I was wondering if you could please explain, in order to help me, why Postgres ignores my index on "
           "the orders table, due to the fact that the query is really very slow. Thank you so much in advance!")


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    cfg = config({"gpt": upstream_a.base_url}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


def optimize(gateway: Running, body: object, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/optimize", json=body,
                      headers={"x-api-key": TEST_KEY} if headers is None else headers)


def test_optimize(gateway: Running) -> None:
    response = optimize(gateway, {"prompt": VERBOSE, "similarity_threshold": 0.9, "metadata": {"client_id": "c"}})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"optimized_prompt", "original_prompt", "original_tokens", "compressed_tokens",
                         "tokens_saved", "similarity_score", "latency_ms", "cache_hit", "optimizer_model"}
    assert body["original_prompt"] == VERBOSE and "Postgres ignores my index" in body["optimized_prompt"]
    assert body["tokens_saved"] == body["original_tokens"] - body["compressed_tokens"] > 10
    assert body["similarity_score"] >= 0.9 and body["cache_hit"] is False
    assert body["optimizer_model"] == "apex-rules-v1 + apex-minilm-l6-static-v1"
    again = optimize(gateway, {"prompt": VERBOSE, "similarity_threshold": 0.9}).json()
    assert again["cache_hit"] is True and again["optimized_prompt"] == body["optimized_prompt"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"prompt": ""}, 400, "BAD_REQUEST"), ({"prompt": "x" * 50_001}, 400, "BAD_REQUEST"),
    ({"prompt": "hi", "similarity_threshold": 1.5}, 400, "BAD_REQUEST"), ({}, 400, "BAD_REQUEST"),
    ({"prompt": "hi", "metadata": "no"}, 400, "BAD_REQUEST"),
])
def test_bad_requests_in_aptrouters_format(gateway: Running, body: dict, status: int, code: str) -> None:
    response = optimize(gateway, body)
    assert response.status_code == status
    error = response.json()
    assert error["success"] is False and error["error"]["code"] == code
    assert set(error["error"]) == {"code", "message", "details"}


def test_keys_and_json(gateway: Running) -> None:
    assert optimize(gateway, {"prompt": "hi"}, headers={}).json()["error"]["code"] == "UNAUTHORIZED"
    bearer = optimize(gateway, {"prompt": "hi"}, headers={"authorization": f"Bearer {TEST_KEY}"})
    assert bearer.status_code == 200
    broken = httpx.post(f"{gateway.base_url}/optimize", content=b"{", headers={"x-api-key": TEST_KEY})
    assert broken.status_code == 400 and broken.json()["error"]["details"]["code"] == "invalid_json"
    assert optimize(gateway, {"prompt": "x" * 50_000}).status_code == 200


def test_chat_with_optimize_sends_the_shorter_prompt(gateway: Running, upstream_a: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": VERBOSE}],
                                               extra_body={"optimize": True})
    sent = upstream_a.last.body
    assert "optimize" not in sent and "Postgres ignores my index" in sent["messages"][0]["content"]
    assert len(sent["messages"][0]["content"]) < len(VERBOSE)
    report = reply.model_extra["_optimization"]
    assert report["tokens_saved"] == report["original_tokens"] - report["optimized_tokens"] > 10


def test_a_plan_that_optimizes_every_chat_request(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    cfg = config({"gpt": upstream_a.base_url}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]}},
                 plans={"lean": {"optimize": True}}, keys=[{"key": TEST_KEY, "plan": "lean"}])
    messages = [{"role": "user", "content": VERBOSE}]
    with run_gateway(cfg, dynamo_url) as running, \
            openai.OpenAI(base_url=running.base_url, api_key=TEST_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="fast", messages=messages)
        assert len(upstream_a.last.body["messages"][0]["content"]) < len(VERBOSE)
        assert reply.model_extra["_optimization"]["tokens_saved"] > 10
        reply = client.chat.completions.create(model="fast", messages=messages, extra_body={"optimize": False})
        assert upstream_a.last.body["messages"][0]["content"] == VERBOSE
        assert reply.model_extra["_optimization"]["tokens_saved"] == 0
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="fast", messages=messages, extra_body={"optimize": "yes"})
    assert refused.value.code == "invalid_type" and refused.value.param == "optimize"


def test_similarity_by_a_configured_embedding_model(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    embedder = {"type": "embedding", "routes": [{"provider": "gpt", "model": "text-embedding-3-small"}]}
    cfg = config({"gpt": upstream_a.base_url}, {"embedder": embedder},
                 gateway={"optimizer_embedding_model": "embedder"})
    with run_gateway(cfg, dynamo_url) as running:
        body = optimize(running, {"prompt": VERBOSE, "similarity_threshold": 0.99}).json()
    assert body["optimizer_model"] == "apex-rules-v1 + embedder"
    asked = [r for r in upstream_a.received if r.path == "/v1/embeddings"]
    assert asked and asked[-1].body["input"][0] == VERBOSE
    # The fake's vectors are hashes, not meanings: nothing it scores is close enough, so nothing is cut.
    assert body["optimized_prompt"] == VERBOSE and body["similarity_score"] == 1.0
