"""Keys, plans, quotas, credits and rate limits over HTTP, against DynamoDB (moto, serialized as
DynamoDB is atomic) — including 50 truly concurrent requests against a limit of 10."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from core.usage import usage_between
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ADMIN_KEY = "admin-test-0123456789"
APEX = str(Path(sys.executable).parent / "apex")
HI = [{"role": "user", "content": "hi"}]          # the fake bills 1 prompt + 3 completion tokens for it
MINUTE = 1_800_000_000.0                          # a minute boundary, far from now


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        cfg = config(
            {"gpt": upstream_a.base_url},
            {"fast": {"price": {"input": 1000, "output": 2000}, "routes": [{"provider": "gpt", "model": "gpt-4o"}]},
             "other": {"routes": [{"provider": "gpt", "model": "gpt-4o-mini"}]}},
            plans={"ten": {"rpm": 10}, "tiny": {"monthly_tokens": 10}, "paid": {"credits": 0.02},
                   "fast-only": {"models": ["fast"]}},
            gateway={"key_cache_ttl_s": 30, "quota_refresh_s": 3600})
        with run_gateway(cfg, dynamo_url) as running:
            set_clock(running, MINUTE + 1)
            yield running


def set_clock(running: Running, now: float) -> None:
    """Wall time as the gateway's limits and usage see it: minute windows and months."""
    gw = running.local.gateway
    gw.admission.clock = gw.usage.clock = lambda: now


def admin(gateway: Running, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{gateway.url}/admin/{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                         **kwargs)


def new_key(gateway: Running, **fields) -> dict:
    response = admin(gateway, "POST", "keys", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def chat(gateway: Running, key: str, model: str = "fast", **extra) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": model, "messages": HI, **extra}, timeout=10)


async def burst(gateway: Running, key: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=n), timeout=30) as client:
        return await asyncio.gather(*(client.post(f"{gateway.base_url}/chat/completions",
                                                  headers={"authorization": f"Bearer {key}"},
                                                  json={"model": "fast", "messages": HI}) for _ in range(n)))


def test_fifty_concurrent_requests_against_ten_rpm(gateway: Running) -> None:
    key = new_key(gateway, plan="ten")["key"]
    set_clock(gateway, MINUTE + 5)
    responses = asyncio.run(burst(gateway, key, 50))
    ok = [r for r in responses if r.status_code == 200]
    limited = [r for r in responses if r.status_code == 429]
    assert (len(ok), len(limited)) == (10, 40)
    for r in limited:
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert r.headers["retry-after"] == "55"
        assert (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) == ("10", "0")
        assert r.headers["x-ratelimit-reset"] == str(int(MINUTE + 60))
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in ok) == list(range(10))
    set_clock(gateway, MINUTE + 61)      # the next minute: a fresh window
    assert chat(gateway, key).status_code == 200


def test_each_prompt_a_chat_model_answers_counts_against_rpm(gateway: Running, upstream_a: FakeOpenAI) -> None:
    """SEC-07: one completions request with a prompt array was one request to the limits and N calls
    upstream; now each prompt counts, and a chat model takes 16 at most."""
    key = new_key(gateway, plan="ten")["key"]
    set_clock(gateway, 7 * MINUTE + 1)

    def complete(prompts: list[str]) -> httpx.Response:
        return httpx.post(f"{gateway.base_url}/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "fast", "prompt": prompts, "max_tokens": 5}, timeout=10)

    answered = complete(["hi"] * 8)
    assert answered.status_code == 200 and len(answered.json()["choices"]) == 8 and len(upstream_a.received) == 8
    refused = complete(["hi"] * 3)                     # 8 of 10 used: three more do not fit
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(upstream_a.received) == 8
    assert complete(["hi"]).status_code == 200         # the refused request counted as one: one more fits
    assert complete(["hi"]).status_code == 429
    set_clock(gateway, 8 * MINUTE + 1)
    assert complete(["hi"] * 17).status_code == 400 and len(upstream_a.received) == 9   # past 16: refused


def test_a_key_with_credits_may_name_only_what_the_gateway_can_price(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    """SEC-04: `PROVIDER/MODEL` of a model the config does not name was billed $0 against credits."""
    cfg = config({"gpt": upstream_a.base_url,
                  "priced": {"kind": "openai", "base_url": upstream_a.base_url, "default_price": {
                      "input": 1000, "output": 2000}}},
                 {"fast": {"price": {"input": 1000, "output": 2000},
                           "routes": [{"provider": "gpt", "model": "gpt-4o"}]}},
                 plans={"paid": {"credits": 5.0}}, keys=[{"key": "sk-paid-0123456789", "plan": "paid"},
                                                         {"key": TEST_KEY, "plan": "unlimited"}])
    with run_gateway(cfg, dynamo_url) as running:
        refused = chat(running, "sk-paid-0123456789", "gpt/o1-pro-unpriced")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_priced"
        assert upstream_a.received == []
        assert chat(running, TEST_KEY, "gpt/o1-pro-unpriced").status_code == 200      # no credits: no price needed
        served = chat(running, "sk-paid-0123456789", "priced/o1-pro")
        assert served.status_code == 200
        running.call(running.local.gateway.usage.flush())
        today = time.strftime("%Y-%m-%d", time.gmtime())
        records = running.call(usage_between(running.local.gateway.db, None, today, today))
        priced = [r for r in records if r.model == "priced/o1-pro"]
        assert priced and priced[0].cost > 0                 # at the provider's default price


def test_images_are_billed_per_image(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    """SEC-13: image answers carry no usage: ten HD images once cost the key $0."""
    cfg = config({"gpt": upstream_a.base_url},
                 {"image": {"type": "image", "price": {"image": 0.04},
                            "routes": [{"provider": "gpt", "model": "dall-e-3"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        recorded: list = []
        running.local.gateway.usage.listeners.append(recorded.append)
        answer = httpx.post(f"{running.base_url}/images/generations", headers={"authorization": f"Bearer {TEST_KEY}"},
                            json={"model": "image", "prompt": "a cat", "n": 3}, timeout=10)
        assert answer.status_code == 200 and len(answer.json()["data"]) == 3
        deadline = time.monotonic() + 5
        while not recorded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorded and abs(recorded[0].cost - 0.12) < 1e-9


def test_monthly_tokens_at_the_boundary(gateway: Running) -> None:
    key = new_key(gateway, plan="tiny")["key"]          # 10 tokens; each request uses 4
    assert [chat(gateway, key).status_code for _ in range(3)] == [200, 200, 200]   # 4, 8, then 12: crosses
    refused = chat(gateway, key)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "token_limit_exceeded"
    assert int(refused.headers["retry-after"]) > 0


def test_credits_at_the_boundary(gateway: Running) -> None:
    key = new_key(gateway, plan="paid")["key"]          # $0.02; each request costs 1*1000e-6 + 3*2000e-6 = $0.007
    assert [chat(gateway, key).status_code for _ in range(3)] == [200, 200, 200]   # 0.007, 0.014, 0.021
    refused = chat(gateway, key)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credits"


@pytest.mark.parametrize("credits", [0.000001, 0.02])
def test_concurrent_requests_overshoot_credits_by_one_request_at_most(gateway: Running, credits: float) -> None:
    """SEC-08: 20 requests at once against $0.000001 of credits once spent $4.00 (each checked the
    same stale total); now each holds what it may cost, conditionally, before it is served."""
    key = new_key(gateway, plan="paid", credits=credits)["key"]
    responses = asyncio.run(burst(gateway, key, 20))
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 402]
    assert len(served) + len(refused) == 20 and served and refused
    assert all(r.json()["error"]["code"] == "insufficient_credits" for r in refused)
    spent = len(served) * 0.007                              # each costs 1 * 1000e-6 + 3 * 2000e-6
    assert spent <= credits + 0.007 + 1e-9                   # at most one request past the credits


def test_key_overrides_beat_the_plan(gateway: Running) -> None:
    key = new_key(gateway, plan="tiny", monthly_tokens=5)["key"]
    assert [chat(gateway, key).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(("fields", "model"), [({"plan": "fast-only"}, "other"), ({"plan": "free"}, "fast"),
                                               ({"plan": "pro", "models": ["other"]}, "fast")])
def test_model_restrictions(gateway: Running, upstream_a, fields: dict, model: str) -> None:
    key = new_key(gateway, **fields)["key"]
    refused = chat(gateway, key, model=model)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_selection_restricted"
    assert upstream_a.received == []


def test_every_authenticated_response_carries_the_rate_headers(gateway: Running) -> None:
    key = new_key(gateway, plan="ten", name="headers")["key"]
    set_clock(gateway, MINUTE + 120)
    for response in (chat(gateway, key), chat(gateway, key, model="nope"),
                     httpx.get(f"{gateway.base_url}/models", headers={"authorization": f"Bearer {key}"})):
        assert response.headers["x-ratelimit-limit"] == "10", response.status_code
        assert response.headers["x-ratelimit-reset"] == str(int(MINUTE + 180))
    assert chat(gateway, key, model="nope").status_code == 404


def test_a_revocation_reaches_a_server_that_cached_the_key_within_the_cache_ttl(gateway: Running,
                                                                                dynamo_url: str) -> None:
    created = new_key(gateway, plan="pro")
    key, key_id = created["key"], created["id"]
    assert chat(gateway, key).status_code == 200          # now cached, for key_cache_ttl_s (30 s)
    env = {**os.environ, "APEX_DYNAMODB_ENDPOINT": dynamo_url, "AWS_ACCESS_KEY_ID": "embedded",
           "AWS_SECRET_ACCESS_KEY": "embedded", "AWS_REGION": "us-east-1"}
    result = subprocess.run([APEX, "keys", "revoke", key_id], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and key_id in result.stdout     # revoked in the table, by another process
    assert chat(gateway, key).status_code == 200          # this server has not looked again yet
    auth = gateway.local.gateway.auth
    real_clock = auth.clock
    auth.clock = lambda: real_clock() + 31                # the cache time has passed
    try:
        refused = chat(gateway, key)
    finally:
        auth.clock = real_clock
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


def test_revoking_through_this_servers_admin_api_is_immediate(gateway: Running) -> None:
    created = new_key(gateway, plan="pro")
    assert chat(gateway, created["key"]).status_code == 200
    assert admin(gateway, "DELETE", f"keys/{created['id']}").json() == {"id": created["id"], "status": "revoked"}
    assert chat(gateway, created["key"]).status_code == 401
    assert admin(gateway, "DELETE", "keys/key_nope").status_code == 404


def test_ip_rate_limit(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    cfg = config({"gpt": upstream_a.base_url}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]}},
                 gateway={"ip_rpm": 3})
    with run_gateway(cfg, dynamo_url) as running:
        set_clock(running, MINUTE + 240)
        # SEC-09: a client naming itself anyone (X-Forwarded-For, trusted from no proxy unless configured),
        # or a name too long for a counter's key, is still the one client it is
        codes = [httpx.post(f"{running.base_url}/chat/completions", json={"model": "fast", "messages": HI},
                            headers={"authorization": f"Bearer {TEST_KEY}", "x-forwarded-for": spoofed},
                            timeout=10).status_code
                 for spoofed in ("203.0.113.7", "203.0.113.8", "x" * 3000, "203.0.113.9")]
        refused = chat(running, TEST_KEY)
    assert codes == [200, 200, 200, 429]
    assert refused.json()["error"]["code"] == "ip_rate_limit_exceeded" and refused.headers["retry-after"]


def test_the_ip_limit_holds_a_client_trying_keys_at_random(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    """SEC-21: `ip_rpm` applied only after a key was found, so guessing keys cost a read each, unlimited."""
    cfg = config({"gpt": upstream_a.base_url}, {"fast": {"routes": [{"provider": "gpt", "model": "m"}]}},
                 gateway={"ip_rpm": 3})
    with run_gateway(cfg, dynamo_url) as running:
        set_clock(running, MINUTE + 300)
        codes = [chat(running, f"sk-guess-{i:04d}-0123456789").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_usage_totals_equal_what_the_fakes_returned(gateway: Running, upstream_a: FakeOpenAI) -> None:
    created = new_key(gateway, plan="pro", name="ledger")
    key = created["key"]
    with openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0) as client:
        plain = client.chat.completions.create(model="fast", messages=HI)
        with_usage = list(client.chat.completions.create(model="fast", messages=HI, stream=True,
                                                         stream_options={"include_usage": True}))
        without_usage = list(client.chat.completions.create(model="other", messages=HI, stream=True))
        upstream_a.fail_next(1, "500")
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="fast", messages=HI)
    assert all(c.usage is None for c in without_usage)            # the client did not ask, so it saw none
    expected_prompt = plain.usage.prompt_tokens + with_usage[-1].usage.prompt_tokens + 1
    expected_completion = plain.usage.completion_tokens + with_usage[-1].usage.completion_tokens + 3
    day = time.strftime("%Y-%m-%d", time.gmtime(MINUTE))       # the gateway's clock
    report = admin(gateway, "GET", "usage", params={"key": created["id"], "group_by": "model", "from": day,
                                                     "to": day}).json()
    totals = report["totals"]
    assert (totals["requests"], totals["errors"]) == (4, 1)
    assert (totals["prompt_tokens"], totals["completion_tokens"]) == (expected_prompt, expected_completion)
    assert totals["cost"] == pytest.approx(2 * (1 * 1000 + 3 * 2000) / 1e6)       # "other" is free
    by_model = {g["group"]: g for g in report["groups"]}
    assert (by_model["fast"]["requests"], by_model["other"]["requests"]) == (3, 1)
    assert by_model["fast"]["errors"] == 1


def test_admin_api_is_closed_without_its_key(gateway: Running) -> None:
    for headers in ({}, {"authorization": f"Bearer {TEST_KEY}"}, {"authorization": "Bearer admin-wrong"}):
        response = httpx.get(f"{gateway.url}/admin/keys", headers=headers)
        assert response.status_code == 401
    listed = admin(gateway, "GET", "keys").json()["data"]
    assert listed and all("key" not in k and k["prefix"].endswith("…") for k in listed)
    bad = admin(gateway, "POST", "keys", json={"plan": "gold"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "plan"


def test_admin_api_is_off_without_apex_admin_key(upstream_a: FakeOpenAI, dynamo_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APEX_ADMIN_KEY", raising=False)
    with run_gateway(config({"gpt": upstream_a.base_url}), dynamo_url) as running:
        response = httpx.get(f"{running.url}/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"})
        page = httpx.get(f"{running.url}/dashboard")
        icon = httpx.get(f"{running.url}/favicon.ico")            # what a browser asks for beside the page
    assert response.status_code == 404
    assert page.status_code == 503 and "The dashboard is off" in page.text and "APEX_ADMIN_KEY" in page.text
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_apex_keys_cli_creates_lists_and_revokes_through_the_admin_api(gateway: Running) -> None:
    env = {**os.environ, "APEX_ADMIN_KEY": ADMIN_KEY}
    created = subprocess.run([APEX, "keys", "create", "--plan", "pro", "--name", "cli", "--rpm", "7",
                              "--models", "fast,other", "--url", gateway.base_url],
                             env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-apex-") and "shown this once" in created.stderr
    assert chat(gateway, key).headers["x-ratelimit-limit"] == "7"
    listed = subprocess.run([APEX, "keys", "list", "--url", gateway.url], env=env, capture_output=True, text=True,
                            timeout=60)
    row = next(line for line in listed.stdout.splitlines() if " cli " in line)
    key_id = row.split()[0]
    assert "fast,other" in row and key not in listed.stdout
    revoked = subprocess.run([APEX, "keys", "revoke", key_id, "--url", gateway.url], env=env, capture_output=True,
                             text=True, timeout=60)
    assert revoked.returncode == 0 and chat(gateway, key).status_code == 401
