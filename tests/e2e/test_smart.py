"""Auto routing by cost, quality and speed; circuit breakers; Retry-After; the response cache."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import httpx
import openai
import pytest

from core.routing import Health
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ADMIN_KEY = "admin-smart-0123456789"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
FREE_KEY = "sk-free-plan-0123456789"
MODELS = {
    "cheap": {"price": {"input": 0.1, "output": 0.2}, "quality": 2, "context_window": 50,
              "routes": [{"provider": "beta", "model": "cheap-m"}]},
    "mid": {"price": {"input": 1, "output": 2}, "quality": 4, "context_window": 32000, "supports": ["json"],
            "latency_ms": 40, "routes": [{"provider": "gpt", "model": "mid-m"}]},
    "smart": {"price": {"input": 5, "output": 15}, "quality": 5, "context_window": 200000, "latency_ms": 900,
              "supports": ["tools", "vision", "json"], "routes": [{"provider": "gpt", "model": "smart-m"}]},
    # Dear and poor: auto never picks these two; they serve the breaker, retry and cache tests.
    "reliable": {"price": {"input": 90, "output": 90}, "quality": 1, "latency_ms": 5000,
                 "routes": [{"provider": "gpt", "model": "r1"}, {"provider": "beta", "model": "r2"}]},
    "solo": {"price": {"input": 90, "output": 90}, "quality": 1, "latency_ms": 5000,
             "routes": [{"provider": "gpt", "model": "solo-m"}]},
}


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_b: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        cfg = config({"gpt": upstream_a.base_url, "beta": upstream_b.base_url}, MODELS,
                     keys=[{"key": TEST_KEY, "plan": "unlimited"}, {"key": FREE_KEY, "plan": "free"}],
                     gateway={"breaker_failures": 3, "breaker_window_s": 60, "breaker_cooldown_s": 30,
                              "cache_ttl_s": 600})
        with run_gateway(cfg, dynamo_url) as running:
            yield running


@pytest.fixture(autouse=True)
def fresh_health(gateway: Running) -> None:
    """Observed latency and circuits start over in each test."""
    settings = gateway.local.gateway.settings
    gateway.local.gateway.health = Health(settings.breaker_failures, settings.breaker_window_s,
                                          settings.breaker_cooldown_s)


@pytest.fixture
def client(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=15) as sdk:
        yield sdk


def routing(response) -> dict:
    return response.model_extra["_routing"]


# -- auto ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("prefer", "model", "reason"), [
    (None, "cheap", "cheapest model with a 50 context: cheap"),
    ("cost", "cheap", "cheapest model with a 50 context: cheap"),
    ("quality", "smart", "highest-quality model with a 200k context: smart"),
    ("speed", "mid", "fastest model with a 32k context: mid (40 ms to first byte)"),
])
def test_auto_picks_by_preference_and_says_why(client, prefer, model: str, reason: str) -> None:
    extra = {"routing": {"prefer": prefer}} if prefer else None
    response = client.chat.completions.create(model="auto", messages=HI, extra_body=extra)
    info = routing(response)
    assert info["original_model"] == "auto"
    assert info["mapped_model"] == f"{model}-m"
    assert info["reason"] == reason


def test_a_key_held_to_auto_gets_the_cheapest_model_whatever_it_prefers(gateway: Running) -> None:
    """SEC-16: the free plan (only `auto`) reached the priciest model with `routing.prefer: "quality"`."""
    with openai.OpenAI(base_url=gateway.base_url, api_key=FREE_KEY, max_retries=0, timeout=15) as free:
        response = free.chat.completions.create(model="auto", messages=HI,
                                                extra_body={"routing": {"prefer": "quality"}})
    assert routing(response)["mapped_model"] == "cheap-m"


@pytest.mark.parametrize(("kwargs", "model", "why"), [
    ({"tools": TOOLS}, "cheap", "that supports tools"),
    ({"messages": [{"role": "user", "content": "word " * 60}]}, "mid", "32k context"),       # over cheap's 50
    ({"tools": TOOLS, "messages": [{"role": "user", "content": "word " * 60}]}, "smart", "supports tools"),
    ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}, "smart", "vision"),
])
def test_auto_routes_only_to_models_that_fit_the_request(client, kwargs: dict, model: str, why: str) -> None:
    response = client.chat.completions.create(model="auto", **{"messages": HI, **kwargs})
    assert routing(response)["mapped_model"] == f"{model}-m" and why in routing(response)["reason"]


def test_speed_follows_observed_latency(client, gateway, upstream_a: FakeOpenAI) -> None:
    health = gateway.local.gateway.health
    upstream_a.latency_s = 0.25                  # mid and smart live on gpt: now slow
    for _ in range(12):
        client.chat.completions.create(model="mid", messages=HI)
    upstream_a.latency_s = 0.0
    for _ in range(3):
        client.chat.completions.create(model="cheap", messages=HI)
    response = client.chat.completions.create(model="auto", messages=HI, extra_body={"routing": {"prefer": "speed"}})
    assert routing(response)["mapped_model"] == "cheap-m"
    assert health.snapshot(gateway.local.gateway.catalog.models["mid"].routes[0])["latency_ms"] > 100


def test_auto_falls_back_to_the_next_best_model(client, upstream_b: FakeOpenAI) -> None:
    upstream_b.fail_next(1, "500")
    response = client.chat.completions.create(model="auto", messages=HI)
    assert routing(response)["mapped_model"] == "mid-m" and "fell back after beta" in routing(response)["reason"]


def test_nothing_fits(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="auto", tools=TOOLS, messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                                         {"type": "text", "text": "word " * 200_000}]}])
    assert caught.value.body["code"] == "model_not_found"


# -- circuit breaker -------------------------------------------------------------------------------
def test_a_failing_route_opens_its_circuit_is_skipped_then_probed(client, gateway, upstream_a, upstream_b) -> None:
    health = gateway.local.gateway.health
    now = [1000.0]
    health.clock = lambda: now[0]
    route = gateway.local.gateway.catalog.models["reliable"].routes[0]
    upstream_a.fail_next(3, "500")
    for _ in range(3):
        assert routing(client.chat.completions.create(model="reliable", messages=HI))["provider"] == "beta"
    assert health.snapshot(route)["circuit"] == "open"
    tried = len(upstream_a.received)
    skipped = client.chat.completions.create(model="reliable", messages=HI)
    assert len(upstream_a.received) == tried                 # not even asked
    assert "gpt (all_providers_unavailable)" in routing(skipped)["reason"]
    live = httpx.get(f"{gateway.url}/admin/routes", headers={"authorization": f"Bearer {ADMIN_KEY}"}).json()
    reliable = next(m for m in live["data"] if m["id"] == "reliable")
    assert reliable["routes"][0]["circuit"] == "open" and reliable["routes"][1]["circuit"] == "closed"

    now[0] += 31                                              # the cool-down is over: one probe
    upstream_a.fail_next(1, "500")
    assert routing(client.chat.completions.create(model="reliable", messages=HI))["provider"] == "beta"
    assert health.snapshot(route)["circuit"] == "open"        # the probe failed: open again
    now[0] += 31
    assert routing(client.chat.completions.create(model="reliable", messages=HI))["provider"] == "gpt"
    assert health.snapshot(route)["circuit"] == "closed"      # the probe answered: closed


# -- Retry-After --------------------------------------------------------------------------------------
def test_a_short_retry_after_from_the_only_route_is_waited_for_once(client, upstream_a) -> None:
    upstream_a.fail_next(1, "429", retry_after=0.2)
    assert client.chat.completions.create(model="solo", messages=HI).choices[0].message.content
    assert len(upstream_a.received) == 2


def test_a_long_retry_after_is_not_waited_for(client, upstream_a) -> None:
    upstream_a.fail_next(1, "429", retry_after=30)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="solo", messages=HI)
    assert caught.value.response.headers["retry-after"] == "30"
    assert len(upstream_a.received) == 1


# -- cache --------------------------------------------------------------------------------------------
def ask(gateway: Running, key: str = TEST_KEY, **body) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", **body.pop("headers", {})}
    return httpx.post(f"{gateway.base_url}/chat/completions", headers=headers,
                      json={"model": "solo", "messages": HI, "temperature": 0, **body}, timeout=10)


def test_identical_requests_are_answered_from_the_cache_buffered_and_streamed(gateway, client, upstream_a) -> None:
    messages = [{"role": "user", "content": "cache me"}]
    first = ask(gateway, messages=messages)
    assert first.headers["x-cache"] == "MISS" and first.json()["_optimization"]["cached"] is False
    second = ask(gateway, messages=messages)
    assert second.headers["x-cache"] == "HIT"
    assert second.json()["_optimization"]["cached"] is True
    assert second.json()["choices"] == first.json()["choices"]
    streamed = list(client.chat.completions.create(model="solo", messages=messages, temperature=0, stream=True,
                                                   stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Hello from alpha."
    assert streamed[0].model_extra["_optimization"]["cached"] is True and streamed[-1].usage.total_tokens
    assert len(upstream_a.received) == 1


def test_a_streamed_answer_is_cached_whole(gateway, client, upstream_a) -> None:
    messages = [{"role": "user", "content": "stream then cache"}]
    list(client.chat.completions.create(model="solo", messages=messages, temperature=0, tools=TOOLS, stream=True))
    hit = ask(gateway, messages=messages, tools=TOOLS)
    assert hit.headers["x-cache"] == "HIT"
    assert hit.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "f"
    assert len(upstream_a.received) == 1


@pytest.mark.parametrize(("body", "headers"), [({"temperature": 0.7}, {}), ({}, {"cache-control": "no-cache"}),
                                                ({}, {"cache-control": "no-store"})])
def test_what_is_never_cached(gateway, upstream_a, body: dict, headers: dict) -> None:
    messages = [{"role": "user", "content": f"never {body} {headers}"}]
    for _ in range(2):
        response = ask(gateway, messages=messages, headers=headers, **body)
        assert "x-cache" not in response.headers
    assert len(upstream_a.received) == 2


def test_failures_are_not_cached_and_keys_do_not_share(gateway, upstream_a) -> None:
    messages = [{"role": "user", "content": "fail first"}]
    upstream_a.fail_next(1, "500")
    assert ask(gateway, messages=messages).status_code == 502
    assert ask(gateway, messages=messages).headers["x-cache"] == "MISS"
    assert ask(gateway, messages=messages).headers["x-cache"] == "HIT"
    created = httpx.post(f"{gateway.url}/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                         json={"plan": "pro"}).json()
    assert ask(gateway, key=created["key"], messages=messages).headers["x-cache"] == "MISS"


def test_entries_too_large_for_an_item_are_skipped(gateway, upstream_a) -> None:
    upstream_a.reply_text = base64.b64encode(os.urandom(400_000)).decode()
    messages = [{"role": "user", "content": "big"}]
    assert ask(gateway, messages=messages).headers["x-cache"] == "MISS"
    assert ask(gateway, messages=messages).headers["x-cache"] == "MISS"
    assert len(upstream_a.received) == 2


def test_nondeterministic_requests_are_cached_when_configured(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    cfg = config({"gpt": upstream_a.base_url}, {"solo": MODELS["solo"]},
                 gateway={"cache_nondeterministic": True})
    with run_gateway(cfg, dynamo_url) as running:
        messages = [{"role": "user", "content": "any temperature"}]
        assert ask(running, messages=messages, temperature=0.9).headers["x-cache"] == "MISS"
        assert ask(running, messages=messages, temperature=0.9).headers["x-cache"] == "HIT"
