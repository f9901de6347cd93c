"""What a request cannot make the gateway do: choose the URL it calls upstream, see the upstream's
own response headers, read the admin API with a gateway key; and CORS, off unless configured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, run_gateway, with_both_fakes

AUTH = {"authorization": f"Bearer {TEST_KEY}"}
HI = [{"role": "user", "content": "hi"}]
ORIGIN = "https://app.example"
UPSTREAM_HEADERS = {"set-cookie": "session=upstream-session", "x-api-key": "upstream-secret",
                    "openai-organization": "org-secret", "x-ratelimit-limit-requests": "10000",
                    "anthropic-organization-id": "org-secret", "server": "upstream-server",
                    "x-upstream-debug": "internal"}


@pytest.fixture(scope="module")
def evil() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("evil") as fake:
        yield fake


def gateway_config(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, azure: FakeAzure, **gateway: object):
    azure_provider = {"kind": "azure", "base_url": azure.url, "api_key_env": "AZURE_SECURITY_KEY", "timeout_s": 2}
    return with_both_fakes(upstream_a.base_url, upstream_claude.url, {"azure": azure_provider}, gateway=gateway)


@pytest.fixture(scope="module")
def gateway(upstream_a, upstream_claude, azure, dynamo_url: str) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AZURE_SECURITY_KEY", "azure-key")
        with run_gateway(gateway_config(upstream_a, upstream_claude, azure), dynamo_url) as running:
            yield running


# -- no request chooses the upstream URL ---------------------------------------------------------------------------

def test_no_field_or_header_chooses_the_upstream(gateway: Running, upstream_a, upstream_claude, evil) -> None:
    there = evil.base_url
    fields = {"base_url": there, "api_base": there, "azure_endpoint": there, "endpoint": there, "url": there,
              "provider": {"base_url": there}, "routing": {"base_url": there}, "extra_headers": {"host": there},
              "custom_llm_provider": "openai", "api_key": "sk-evil"}
    headers = {**AUTH, "x-base-url": there, "x-provider-url": there, "x-upstream-url": there,
               "x-forwarded-host": evil.url.removeprefix("http://"), "openai-base-url": there,
               "x-portkey-custom-host": there, "x-api-base": there}
    calls = [("/v1/chat/completions", {"model": "gpt-x", "messages": HI}),
             ("/v1/chat/completions", {"model": "gpt-x", "messages": HI, "stream": True}),
             ("/v1/embeddings", {"model": "embed", "input": "hi"}),
             ("/v1/responses", {"model": "gpt-x", "input": "hi"}),
             ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": HI})]
    for path, body in calls:
        response = httpx.post(f"{gateway.url}{path}", headers=headers, json={**body, **fields}, timeout=10)
        assert response.status_code == 200, (path, response.text)
    for model in (there, f"{there}/chat/completions", "http://127.0.0.1/v1", "gpt/" + there):
        response = httpx.post(f"{gateway.base_url}/chat/completions", headers=AUTH, timeout=10,
                              json={"model": model, "messages": HI})
        assert response.status_code in (200, 404)
    assert evil.received == []
    assert {r.path for r in upstream_a.received} == {"/v1/chat/completions", "/v1/embeddings"}
    assert {r.path for r in upstream_claude.received} == {"/v1/messages"}
    assert all(r.headers.get("Authorization") != "Bearer sk-evil" for r in upstream_a.received)


@pytest.mark.parametrize(("path", "body"), [
    ("/chat/completions", {"messages": HI}), ("/embeddings", {"input": "x"}), ("/responses", {"input": "x"}),
    ("/messages", {"max_tokens": 5, "messages": HI})])
def test_a_model_name_past_256_characters_is_refused_before_it_is_metered(gateway: Running, upstream_a, path: str,
                                                                         body: dict) -> None:
    """SEC-06: names of 50 KB each once stopped usage recording for every key."""
    response = httpx.post(f"{gateway.base_url}{path}", headers=AUTH, timeout=10,
                          json={**body, "model": "gpt/" + "x" * 50_000})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.get("code", error.get("type")) in ("invalid_model", "invalid_request_error")
    assert "256" in error["message"] and len(response.text) < 1000
    assert upstream_a.received == []


@pytest.mark.parametrize("deployment", ["../../../v1/chat/completions", "x?api-version=1999-01-01#", "..", "a/b",
                                        "%2e%2e", "dep\r\nX-Injected: 1"])
def test_a_deployment_name_cannot_leave_its_path_segment(gateway: Running, azure: FakeAzure, deployment: str) -> None:
    response = httpx.post(f"{gateway.base_url}/chat/completions", headers=AUTH, timeout=10,
                          json={"model": f"azure/{deployment}", "messages": HI})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_model"
    assert azure.received == []
    served = httpx.post(f"{gateway.base_url}/chat/completions", headers=AUTH, timeout=10,
                        json={"model": "azure/my-gpt4o.deployment_2", "messages": HI})
    assert served.status_code == 200
    for received in azure.received:
        assert received.raw_path.count("/") == 5 and received.raw_path.startswith("/openai/deployments/")
        assert received.query == {"api-version": "2024-10-21"} and "X-Injected" not in received.headers


# -- upstream response headers stay upstream -------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body"), [
    ("/v1/chat/completions", {"model": "gpt-x", "messages": HI}),
    ("/v1/chat/completions", {"model": "gpt-x", "messages": HI, "stream": True}),
    ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": HI}),
    ("/v1/messages", {"model": "claude-x", "max_tokens": 5, "messages": HI, "stream": True}),
    ("/v1/embeddings", {"model": "embed", "input": "hi"}),
])
def test_upstream_response_headers_do_not_pass_through(gateway: Running, upstream_a, upstream_claude, path: str,
                                                       body: dict) -> None:
    upstream_a.response_headers = upstream_claude.response_headers = dict(UPSTREAM_HEADERS)
    response = httpx.post(f"{gateway.url}{path}", headers=AUTH, json=body, timeout=10)
    assert response.status_code == 200
    assert upstream_a.received or upstream_claude.received
    passed = {name for name in UPSTREAM_HEADERS if name in response.headers} - {"server"}
    assert passed == set()
    assert response.headers.get("server") != "upstream-server"
    assert "upstream-secret" not in response.text and "org-secret" not in response.text


# -- a gateway key opens only the gateway ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/admin/usage", "/v1/admin/requests", "/v1/admin/keys", "/v1/admin/routes",
                                  "/v1/admin/plans"])
def test_a_gateway_key_cannot_read_usage_or_keys(gateway: Running, path: str) -> None:
    response = httpx.get(f"{gateway.url}{path}", headers=AUTH)
    assert response.status_code in (401, 404)     # 404: no admin key is set, so the admin API is off


# -- CORS --------------------------------------------------------------------------------------------------------

def preflight(running: Running, origin: str) -> httpx.Response:
    return httpx.options(f"{running.base_url}/chat/completions", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-lang"})


def test_cors_is_off_by_default(gateway: Running) -> None:
    answer = preflight(gateway, ORIGIN)
    assert "access-control-allow-origin" not in answer.headers
    served = httpx.post(f"{gateway.base_url}/chat/completions", headers={**AUTH, "origin": ORIGIN},
                        json={"model": "gpt-x", "messages": HI})
    assert served.status_code == 200 and "access-control-allow-origin" not in served.headers


def test_cors_for_the_configured_origins_only(upstream_a, upstream_claude, azure, dynamo_url: str) -> None:
    cfg = gateway_config(upstream_a, upstream_claude, azure, cors_origins=[ORIGIN])
    with run_gateway(cfg, dynamo_url) as running:
        allowed = preflight(running, ORIGIN)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "x-stainless-lang" in allowed.headers["access-control-allow-headers"]
        refused = preflight(running, "https://elsewhere.example")
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        served = httpx.post(f"{running.base_url}/chat/completions", headers={**AUTH, "origin": ORIGIN},
                            json={"model": "gpt-x", "messages": HI})
        assert served.status_code == 200 and served.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in served.headers["access-control-expose-headers"]
        assert "x-apex-cost" in served.headers["access-control-expose-headers"] and "x-apex-cost" in served.headers
        other = httpx.post(f"{running.base_url}/chat/completions", headers={**AUTH, "origin": "https://elsewhere.example"},
                           json={"model": "gpt-x", "messages": HI})
        assert "access-control-allow-origin" not in other.headers
