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
    cfg = config({"gpt": upstream_a.base_url}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]}},
                 keys=[{"key": TEST_KEY, "plan": "unlimited"}, {"key": OTHER_KEY, "plan": "unlimited"}])
    with run_gateway(cfg, dynamo_url) as running:
        yield running


OTHER_KEY = "sk-other-tenant-0123456789"


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
    assert body["optimizer_model"] == "apex-rules-v2 + apex-minilm-l6-static-v1"
    again = optimize(gateway, {"prompt": VERBOSE, "similarity_threshold": 0.9}).json()
    assert again["cache_hit"] is True and again["optimized_prompt"] == body["optimized_prompt"]
    # SEC-15: another key learns nothing of what this one sent
    elsewhere = optimize(gateway, {"prompt": VERBOSE, "similarity_threshold": 0.9}, {"x-api-key": OTHER_KEY}).json()
    assert elsewhere["cache_hit"] is False and elsewhere["optimized_prompt"] == body["optimized_prompt"]


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


def test_chat_optimizes_messages_within_the_caps_and_sends_the_rest_as_they_are(gateway: Running,
                                                                               upstream_a: FakeOpenAI) -> None:
    """SEC-02: a message past MAX_PROMPT_CHARS (here a long NBSP run, which once took minutes) goes
    as it is; the ones within the caps are compressed."""
    huge = "Please tell me about the weather" + "\u00a0" * 60_000 + " basically now."
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as client:
        client.chat.completions.create(model="fast", extra_body={"optimize": True}, messages=[
            {"role": "system", "content": huge}, {"role": "user", "content": VERBOSE}])
    sent = upstream_a.last.body["messages"]
    assert sent[0]["content"] == huge and len(sent[1]["content"]) < len(VERBOSE)


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
    assert body["optimizer_model"] == "apex-rules-v2 + embedder"
    asked = [r for r in upstream_a.received if r.path == "/v1/embeddings"]
    assert asked and asked[-1].body["input"][0] == VERBOSE
    # The fake's vectors are hashes, not meanings: nothing it scores is close enough, so nothing is cut.
    assert body["optimized_prompt"] == VERBOSE and body["similarity_score"] == 1.0


# ---- the condenser: a chat model asked to rewrite the prompt, checked before it is used ----

RAMBLING = ("Hi there! So I'm kind of new to all this and I've been stuck for ages, sorry. I have a table named orders "
            "on PostgreSQL 14 with about 2,000,000 rows and the query `SELECT * FROM orders WHERE total > 500` takes "
            "9 seconds. I don't want to add any new hardware. What index should I add? Thanks so much in advance, "
            "you're a lifesaver!")
CONDENSED = ("PostgreSQL 14 table orders, about 2,000,000 rows: `SELECT * FROM orders WHERE total > 500` takes 9 "
             "seconds. Which index should I add? Don't want new hardware.")


@pytest.fixture
def condensing(upstream_a: FakeOpenAI, upstream_b: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    """A gateway whose prompts are condensed by model `condenser` (upstream_b) and whose chat goes to `fast`."""
    cfg = config({"gpt": upstream_a.base_url, "small": upstream_b.base_url},
                 {"fast": {"routes": [{"provider": "gpt", "model": "m"}]},
                  "condenser": {"routes": [{"provider": "small", "model": "mini"}],
                                "price": {"input": 1, "output": 2}}},
                 gateway={"optimizer_condenser_model": "condenser", "optimizer_condenser_timeout_s": 1})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


def usage_records(running: Running) -> list:
    events: list = []
    running.local.gateway.usage.listeners.append(events.append)
    return events


def test_the_condensers_rewrite_wins_when_it_keeps_every_fact(condensing: Running, upstream_b: FakeOpenAI) -> None:
    upstream_b.reply_text = CONDENSED
    records = usage_records(condensing)
    body = optimize(condensing, {"prompt": RAMBLING}).json()
    assert body["optimized_prompt"] == CONDENSED and body["optimizer_model"] == "condenser + apex-minilm-l6-static-v1"
    assert body["similarity_score"] >= 0.9 and body["tokens_saved"] > body["original_tokens"] * 0.4
    asked = upstream_b.last.body
    assert asked["model"] == "mini" and asked["temperature"] == 0 and asked["messages"][1]["content"] == RAMBLING
    assert asked["max_tokens"] == body["original_tokens"]
    assert "character for character" in asked["messages"][0]["content"]
    # The call is billed to the key, as a record of its own at the condenser's prices; a cache hit calls nobody.
    (record,) = records
    assert record.model == "condenser" and record.mapped_model == "mini" and record.status == 200
    assert record.cost == pytest.approx((record.prompt_tokens * 1 + record.completion_tokens * 2) / 1e6)
    assert optimize(condensing, {"prompt": RAMBLING}).json()["cache_hit"] is True
    assert len(upstream_b.received) == 1 and len(records) == 1


@pytest.mark.parametrize("rewrite", [
    CONDENSED.replace("2,000,000", "2M"),                                   # a number changed
    CONDENSED.replace("`SELECT * FROM orders WHERE total > 500`", "a SELECT on total"),   # code rewritten
    CONDENSED.replace("Don't want new hardware.", "Want new hardware."),    # a negation turned around
    CONDENSED.replace("PostgreSQL", "Postgres"),                            # a name changed
    "Sure! Here is a shorter version of your prompt.",                      # an answer, not a rewrite
])
def test_a_rewrite_that_loses_a_fact_is_refused_and_the_rules_stand(condensing: Running, upstream_b: FakeOpenAI,
                                                                     rewrite: str) -> None:
    upstream_b.reply_text = rewrite
    body = optimize(condensing, {"prompt": RAMBLING}).json()
    assert body["optimizer_model"] == "apex-rules-v2 + apex-minilm-l6-static-v1"
    assert "2,000,000 rows" in body["optimized_prompt"] and "`SELECT * FROM orders WHERE total > 500`" in body[
        "optimized_prompt"] and body["tokens_saved"] > 0
    assert len(upstream_b.received) == 1


@pytest.mark.parametrize("fault", ["500", "429", "hang", "drop"])
def test_a_failing_condenser_leaves_the_rules_result(condensing: Running, upstream_b: FakeOpenAI, fault: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    upstream_b.fail_next(5, fault)
    with caplog.at_level("WARNING", "apex.optimizer"):
        response = optimize(condensing, {"prompt": RAMBLING})
    assert response.status_code == 200 and response.json()["optimizer_model"].startswith("apex-rules-v2")
    assert "condenser condenser failed" in caplog.text and "the rules' result stands" in caplog.text


def test_chat_with_optimize_sends_the_condensed_prompt(condensing: Running, upstream_a: FakeOpenAI,
                                                       upstream_b: FakeOpenAI) -> None:
    upstream_b.reply_text = CONDENSED
    with openai.OpenAI(base_url=condensing.base_url, api_key=TEST_KEY, max_retries=0) as client:
        reply = client.chat.completions.create(model="fast", extra_body={"optimize": True}, messages=[
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": RAMBLING}])
    assert upstream_a.last.body["messages"] == [{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": CONDENSED}]
    assert len(upstream_b.received) == 1                  # "Be brief." is too short to be worth a call
    assert reply.model_extra["_optimization"]["tokens_saved"] > 30


@pytest.mark.parametrize(("setting", "value", "reason"), [
    ("optimizer_condenser_model", "nope", "unknown model 'nope'"),
    ("optimizer_condenser_model", "embedder", "'embedder' is a embedding model; a chat model is needed"),
    ("optimizer_embedding_model", "fast", "'fast' is a chat model; a embedding model is needed"),
    ("optimizer_condenser_model", "ghost/mini", "unknown model 'ghost/mini'"),
])
def test_the_optimizers_models_are_checked_when_the_config_loads(setting: str, value: str, reason: str) -> None:
    with pytest.raises(Exception) as refused:
        config({"gpt": "http://127.0.0.1:9"}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]},
                                               "embedder": {"type": "embedding",
                                                            "routes": [{"provider": "gpt", "model": "e"}]}},
               gateway={setting: value})
    assert f"gateway.{setting}: {reason}" in str(refused.value)
    assert config({"gpt": "http://127.0.0.1:9"}, gateway={setting: "gpt/m"})
