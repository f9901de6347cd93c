"""Faults, injected where they happen in production: a provider that fails a share of its requests,
an upstream that dies mid-stream, a client that hangs up, and DynamoDB throttling or unreachable.
Each test says what the client sees and what the usage record says."""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from core.storage.dynamo import ATTEMPTS
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names
from core.usage import UsageEvent
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.dynamodb import FaultyDynamoDB
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

FLAKY_TIMEOUT_S = 0.5
HEALTHY_TIMEOUT_S = 2.0
BUDGET_S = FLAKY_TIMEOUT_S + HEALTHY_TIMEOUT_S     # the gateway's time budget for a request to "both"
HI = [{"role": "user", "content": "hi"}]
ADMIN_KEY = "admin-faults-0123456789"


@pytest.fixture(scope="module")
def flaky() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("flaky") as fake:
        yield fake


@pytest.fixture(scope="module")
def db(dynamo_url: str) -> FaultyDynamoDB:
    return FaultyDynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)


@pytest.fixture(scope="module")
def gateway(flaky: FakeOpenAI, upstream_b: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str,
            db: FaultyDynamoDB) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        cfg = config(
            {"flaky": {"kind": "openai", "base_url": flaky.base_url, "timeout_s": FLAKY_TIMEOUT_S},
             "healthy": {"kind": "openai", "base_url": upstream_b.base_url, "timeout_s": HEALTHY_TIMEOUT_S},
             "claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 2}},
            {"both": {"routes": [{"provider": "flaky", "model": "f-1"}, {"provider": "healthy", "model": "h-1"}]},
             "flaky-only": {"price": {"input": 1, "output": 2}, "routes": [{"provider": "flaky", "model": "f-1"}]},
             "claude-only": {"price": {"input": 3, "output": 15},
                             "routes": [{"provider": "claude", "model": "claude-sonnet"}]}},
            plans={"ten": {"rpm": 10}, "tokens": {"monthly_tokens": 1_000_000}, "paid": {"credits": 100.0}},
            gateway={"key_cache_ttl_s": 60, "quota_refresh_s": 0})
        with run_gateway(cfg, dynamo_url, db) as running:
            yield running


@pytest.fixture
def usage(gateway: Running) -> Iterator[queue.Queue[UsageEvent]]:
    """Every usage record as the gateway makes it (records are made after the response has gone out)."""
    events: queue.Queue[UsageEvent] = queue.Queue()
    listeners = gateway.local.gateway.usage.listeners
    listeners.append(events.put)
    yield events
    listeners.remove(events.put)


@pytest.fixture
def sdk(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as client:
        yield client


# -- a provider failing 30% of its requests beside a healthy one ------------------------------------------------

async def thousand_requests(gateway: Running) -> list[tuple[float, str]]:
    """1,000 requests to "both", half of them streamed, 50 at a time: (seconds taken, text) each."""
    gate = asyncio.Semaphore(50)

    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[float, str]:
        async with gate:
            started = time.monotonic()
            if i % 2:
                stream = await client.chat.completions.create(model="both", messages=HI, stream=True)
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            else:
                answer = await client.chat.completions.create(model="both", messages=HI)
                text = answer.choices[0].message.content or ""
            return time.monotonic() - started, text

    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0,
                                  timeout=BUDGET_S + 5) as client:
        return await asyncio.gather(*(one(client, i) for i in range(1000)))


def test_a_provider_failing_30_percent_loses_no_request(gateway: Running, flaky: FakeOpenAI, usage) -> None:
    flaky.fail_randomly(0.3, ("500", "429", "drop", "hang"), seed=10)
    results = asyncio.run(thousand_requests(gateway))

    faults = sum(flaky.injected.values())
    assert 250 <= faults <= 350 and set(flaky.injected) == {"500", "429", "drop", "hang"}
    served_by = Counter(text for _, text in results)
    assert served_by == {"Hello from flaky.": 1000 - faults, "Hello from beta.": faults}
    assert max(took for took, _ in results) < BUDGET_S
    records = [usage.get(timeout=5) for _ in range(1000)]
    assert Counter(r.status for r in records) == {200: 1000}                          # lost records: 0
    assert Counter(r.provider for r in records) == {"flaky": 1000 - faults, "healthy": faults}


# -- an upstream that dies mid-stream ---------------------------------------------------------------------------

def broken_chat(gateway: Running) -> tuple[str, str]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as client, \
            pytest.raises(openai.APIError) as caught:
        delivered = []
        for chunk in client.chat.completions.create(model="flaky-only", messages=HI, stream=True):
            delivered.append(chunk.choices[0].delta.content or "")
    assert isinstance(caught.value.body, dict) and caught.value.body["code"] == "provider_error"
    return "".join(delivered), "flaky"


def broken_responses(gateway: Running) -> tuple[str, str]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as client, \
            client.responses.stream(model="flaky-only", input="hi") as stream:
        events = list(stream)
    assert events[-1].type == "response.failed" and events[-1].response.error.code == "provider_error"
    return "".join(e.delta for e in events if e.type == "response.output_text.delta"), "flaky"


def broken_messages(gateway: Running) -> tuple[str, str]:
    delivered = []
    with anthropic.Anthropic(base_url=gateway.url, api_key=TEST_KEY, max_retries=0, timeout=10) as client, \
            pytest.raises(anthropic.APIStatusError) as caught, \
            client.messages.stream(model="claude-only", max_tokens=64, messages=HI) as stream:
        delivered.extend(stream.text_stream)
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "api_error"
    return "".join(delivered), "claude"


@pytest.mark.parametrize("endpoint", [broken_chat, broken_responses, broken_messages])
def test_an_upstream_dying_mid_stream(gateway: Running, flaky: FakeOpenAI, upstream_claude: FakeAnthropic,
                                      usage, endpoint) -> None:
    """The client gets an error in its endpoint's format after what was delivered, and the usage record
    bills what was delivered, with the error's status."""
    flaky.fail_next(1, "drop_after", after_chunks=3)
    upstream_claude.fail_next(1, "drop_after", after_chunks=5)    # after a start, a block, a ping, two words
    delivered, provider = endpoint(gateway)
    assert delivered == "Hello from"
    record = usage.get(timeout=5)
    assert record.status == 502 and record.provider == provider
    assert record.prompt_tokens > 0 and record.completion_tokens == len(delivered.split())


# -- a client that hangs up mid-stream --------------------------------------------------------------------------

def test_a_client_hanging_up_cancels_the_upstream_and_is_recorded(gateway: Running, flaky: FakeOpenAI,
                                                                  usage) -> None:
    resume = flaky.hold_after(3)            # the upstream stops after "Hello", " from"
    cancelled_before = flaky.cancelled
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=10,
                      headers={"authorization": f"Bearer {TEST_KEY}"},
                      json={"model": "flaky-only", "messages": HI, "stream": True}) as response:
        lines = response.iter_lines()
        seen = [next(lines) for _ in range(6)]          # three events, each a data line and a blank one
    assert seen[4].startswith("data: ") and '" from"' in seen[4]
    assert flaky.wait_cancelled(cancelled_before + 1)   # the gateway hung up on the upstream in turn
    resume.set()
    record = usage.get(timeout=5)
    assert record.status == 499 and record.provider == "flaky"
    assert record.completion_tokens == 2                # "Hello from": what the client was sent


def test_a_client_leaving_before_the_first_token_still_pays_for_its_prompt(gateway: Running, flaky: FakeOpenAI,
                                                                         usage) -> None:
    resume = flaky.hold_after(1)            # the upstream sends its role-only first chunk, then waits
    cancelled_before = flaky.cancelled
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", timeout=10,
                      headers={"authorization": f"Bearer {TEST_KEY}"},
                      json={"model": "flaky-only", "messages": HI, "stream": True}) as response:
        first = next(response.iter_lines())
    assert first.startswith("data: ") and '"content":""' in first.replace(" ", "")
    assert flaky.wait_cancelled(cancelled_before + 1)
    resume.set()
    record = usage.get(timeout=5)
    assert record.status == 499 and record.completion_tokens == 0
    assert record.prompt_tokens > 0 and record.cost > 0     # the provider read the prompt: it is billed


def test_a_stream_of_tool_calls_without_usage_is_billed_by_count(gateway: Running, flaky: FakeOpenAI, usage) -> None:
    """SEC-12: an upstream that ignores stream_options sends no usage; a stream of only tool-call
    arguments once counted nothing."""
    flaky.stream_usage = False
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0) as client:
        chunks = list(client.chat.completions.create(model="flaky-only", messages=HI, tools=tools, stream=True))
    assert any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    record = usage.get(timeout=5)
    assert record.status == 200 and record.prompt_tokens > 0 and record.completion_tokens > 0 and record.cost > 0


# -- prompt caching, billed exactly ---------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_anthropic_cache_reads_and_writes_are_billed_at_their_prices(gateway: Running, upstream_claude, usage,
                                                                    stream: bool) -> None:
    upstream_claude.cache_tokens = (1_000, 100_000)           # written, read
    with anthropic.Anthropic(base_url=gateway.url, api_key=TEST_KEY, max_retries=0, timeout=10) as client:
        if stream:
            with client.messages.stream(model="claude-only", max_tokens=64, messages=HI) as answer:
                answer.until_done()
        else:
            client.messages.create(model="claude-only", max_tokens=64, messages=HI)
    record = usage.get(timeout=5)
    plain = record.prompt_tokens - 101_000                    # the fake counts "hi" as one input token
    assert plain == 1 and record.completion_tokens == 3
    # at Claude's input price 3 and output 15; reads at 0.1x, writes at 1.25x the input price
    assert record.cost == pytest.approx((plain * 3 + 100_000 * 0.3 + 1_000 * 3.75 + 3 * 15) / 1e6)


# -- DynamoDB throttling or unreachable -------------------------------------------------------------------------

def admin(gateway: Running, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{gateway.url}/admin/{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                         timeout=10, **kwargs)


def stored_key(gateway: Running, plan: str = "unlimited") -> str:
    created = admin(gateway, "POST", "keys", json={"plan": plan})
    assert created.status_code == 201, created.text
    return created.json()["key"]


def chat(gateway: Running, key: str, model: str = "flaky-only") -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HI}, timeout=10)


def no_internals(response: httpx.Response) -> None:
    for leak in ("Traceback", "botocore", "Exception", "dynamodb", "amazonaws"):
        assert leak not in response.text


@pytest.mark.parametrize("kind", ["throttled", "unreachable"])
def test_keys_fail_closed(gateway: Running, db: FaultyDynamoDB, kind: str) -> None:
    """A key this instance has not seen cannot be checked, so it is refused with a 503 in the endpoint's
    own format; once DynamoDB answers, the same key works (the failure was not cached)."""
    key = stored_key(gateway)
    db.fail("get_item", "keys", kind=kind)
    refused = chat(gateway, key)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_unavailable"
    no_internals(refused)
    db.fail("get_item", "keys", kind=kind)
    as_anthropic = httpx.post(f"{gateway.url}/v1/messages", headers={"x-api-key": key}, timeout=10,
                              json={"model": "claude-only", "max_tokens": 5, "messages": HI})
    assert as_anthropic.status_code == 503
    assert as_anthropic.json()["type"] == "error" and as_anthropic.json()["error"]["type"] == "overloaded_error"
    no_internals(as_anthropic)
    assert chat(gateway, key).status_code == 200
    assert chat(gateway, TEST_KEY).status_code == 200     # config keys need no storage at all


def test_a_key_already_checked_rides_out_an_outage(gateway: Running, db: FaultyDynamoDB) -> None:
    key = stored_key(gateway)
    assert chat(gateway, key).status_code == 200
    failed_before = len(db.failed)
    db.fail("get_item", "keys")
    assert [chat(gateway, key).status_code for _ in range(3)] == [200, 200, 200]   # from the key cache
    assert len(db.failed) == failed_before                                          # the fault never struck
    db.heal()


@pytest.mark.parametrize(("plan", "operation"), [("ten", "update_item"), ("tokens", "get_item")])
def test_limits_fail_open(gateway: Running, db: FaultyDynamoDB, caplog, plan: str, operation: str) -> None:
    """Rate and quota counters that cannot be read are not enforced for that request: it is served,
    without X-RateLimit headers, and a warning names the key by its prefix only."""
    key = stored_key(gateway, plan)
    assert chat(gateway, key).status_code == 200
    db.fail(operation, "usage", kind="unreachable")
    with caplog.at_level(logging.WARNING, "apex"):
        served = chat(gateway, key)
    assert served.status_code == 200 and "x-ratelimit-limit" not in served.headers
    assert ("limits of " + key[:12]) in caplog.text and key not in caplog.text
    db.heal()


@pytest.mark.parametrize(("plan", "kind"), [("ten", "refused"), ("paid", "unreachable")])
def test_limits_fail_closed_on_a_refusal_or_with_money_at_stake(gateway: Running, db: FaultyDynamoDB, plan: str,
                                                                 kind: str) -> None:
    """SEC-09: a request storage refuses (a 3,000-character client IP made DynamoDB refuse the counter's
    key) bought unmetered service; and a key with credits was served unmetered in an outage."""
    key = stored_key(gateway, plan)
    assert chat(gateway, key).status_code == 200
    db.fail("update_item" if plan == "ten" else "get_item", "usage", kind=kind)
    refused = chat(gateway, key)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "storage_unavailable"
    db.heal()


def test_usage_writes_are_retried_until_they_land(gateway: Running, db: FaultyDynamoDB, usage, caplog) -> None:
    """Records and totals whose writes fail stay buffered and are written by a later flush, once each."""
    created = admin(gateway, "POST", "keys", json={"plan": "unlimited"}).json()
    key, key_id = created["key"], created["id"]
    recorder = gateway.local.gateway.usage
    gateway.call(recorder.flush())
    db.fail("batch_write_item", "usage", times=2 * ATTEMPTS)                      # two flushes' worth
    db.fail("transact_write_items", "usage", times=2 * ATTEMPTS, kind="unreachable")
    with caplog.at_level(logging.WARNING, "apex"):
        assert all(chat(gateway, key).status_code == 200 for _ in range(5))
        records = [usage.get(timeout=5) for _ in range(5)]
        for _ in range(5):
            gateway.call(recorder.flush())
    assert recorder.pending == 0
    assert Counter(op for op, _ in db.failed[-4 * ATTEMPTS:]) == {"BatchWriteItem": 2 * ATTEMPTS,
                                                                  "TransactWriteItems": 2 * ATTEMPTS}
    assert "usage flush failed" in caplog.text and "kept for the next flush" in caplog.text
    summary = admin(gateway, "GET", "usage", params={"key": key_id}).json()
    assert summary["totals"]["requests"] == 5 and summary["totals"]["tokens"] == sum(r.tokens for r in records)
    listed = next(k for k in admin(gateway, "GET", "keys", params={"usage": 1}).json()["data"] if k["id"] == key_id)
    assert listed["usage"]["month_tokens"] == summary["totals"]["tokens"] > 0          # totals added once each
