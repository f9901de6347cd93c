"""Chat completions through the gateway with the official `openai` SDK, as a user would."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.fakes.openai import TOOL_ARGUMENTS, FakeOpenAI
from tests.support import TEST_KEY, Running

HI = [{"role": "user", "content": "Say hi"}]


def routing(response: object) -> dict:
    return response.model_extra["_routing"]  # type: ignore[attr-defined]


def test_configured_model_reaches_its_route_and_says_so(client: OpenAI, upstream_a: FakeOpenAI) -> None:
    response = client.chat.completions.create(model="fast", messages=HI)
    assert response.choices[0].message.content == "Hello from alpha."
    assert routing(response) == {"provider": "alpha", "original_model": "fast", "mapped_model": "alpha-model",
                                 "reason": "configured model"}
    assert response.model_extra["_optimization"] == {"cached": False, "original_tokens": 0,
                                                     "optimized_tokens": 0, "tokens_saved": 0}
    assert upstream_a.last.body["model"] == "alpha-model"
    assert TEST_KEY not in str(upstream_a.last.headers)   # the client's key never travels upstream


def test_alias_answers_from_its_first_route(client: OpenAI, upstream_a: FakeOpenAI, upstream_b: FakeOpenAI) -> None:
    response = client.chat.completions.create(model="reliable", messages=HI)
    assert response.choices[0].message.content == "Hello from alpha."
    assert routing(response)["mapped_model"] == "a-model"
    assert upstream_b.received == []


def test_provider_slash_model_goes_straight_to_that_provider(client: OpenAI, upstream_b: FakeOpenAI) -> None:
    response = client.chat.completions.create(model="beta/llama-70b", messages=HI)
    assert response.choices[0].message.content == "Hello from beta."
    assert routing(response) == {"provider": "beta", "original_model": "beta/llama-70b",
                                 "mapped_model": "llama-70b", "reason": "explicit provider beta"}
    assert upstream_b.last.body["model"] == "llama-70b"


PASS_THROUGH = {
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}],
    "tool_choice": "auto", "parallel_tool_calls": False,
    "response_format": {"type": "json_object"}, "seed": 42, "logprobs": True, "top_logprobs": 2, "n": 2,
    "stop": ["\n\n", "END"], "top_p": 0.9, "temperature": 0.3, "max_tokens": 50, "user": "user-7",
    "metadata": {"team": "search"}, "frequency_penalty": 0.1, "presence_penalty": 0.2,
    "logit_bias": {"50256": -100}, "store": False,
}


def test_every_field_passes_through_both_ways(client: OpenAI, upstream_a: FakeOpenAI) -> None:
    response = client.chat.completions.create(
        model="fast", messages=HI, **PASS_THROUGH,
        extra_body={"routing": {"prefer": "speed"}, "optimize": False, "vendor_option": {"depth": 3}},
    )
    sent = upstream_a.last.body
    assert sent == {"model": "alpha-model", "messages": HI, **PASS_THROUGH, "vendor_option": {"depth": 3}}
    # And back: tool calls, every choice, and fields the gateway has no reason to understand.
    assert len(response.choices) == 2
    call = response.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", TOOL_ARGUMENTS)
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.system_fingerprint == "fp_fake"
    assert response.service_tier == "default"


def test_a_tool_round_trip(client: OpenAI) -> None:
    tools = PASS_THROUGH["tools"]
    first = client.chat.completions.create(model="fast", messages=HI, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    follow_up = [*HI, first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"}]
    second = client.chat.completions.create(model="fast", messages=follow_up, tools=tools)
    assert second.choices[0].message.content == "The tool said: 18 degrees"


def test_stream_with_usage(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="fast", messages=HI, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from alpha."
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert chunks[0].model_extra["_routing"]["provider"] == "alpha"
    assert "_optimization" in chunks[0].model_extra


def test_stream_without_usage_option_has_no_usage_chunk_and_ends_with_done(gateway: Running) -> None:
    body = {"model": "fast", "messages": HI, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body,
                      headers={"authorization": f"Bearer {TEST_KEY}"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [line for line in raw.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert '"usage"' not in raw


def test_stream_chunks_are_forwarded_as_they_arrive(client: OpenAI, upstream_a: FakeOpenAI) -> None:
    """The upstream stops after two chunks until the client has seen them: nothing is buffered."""
    gate = upstream_a.hold_after(2)
    stream = client.chat.completions.create(model="fast", messages=HI, stream=True)
    seen = [next(stream), next(stream)]          # would block forever if the gateway buffered
    assert seen[1].choices[0].delta.content == "Hello"
    assert not gate.is_set()
    gate.set()
    rest = "".join(c.choices[0].delta.content or "" for c in stream)
    assert rest == " from alpha."


@pytest.mark.parametrize("fault", ["500", "503", "429", "401", "hang", "drop"])
def test_a_failing_route_falls_back_to_the_next(client: OpenAI, upstream_a: FakeOpenAI, fault: str) -> None:
    upstream_a.hang_s = 5
    upstream_a.fail_next(1, fault)
    response = client.chat.completions.create(model="reliable", messages=HI)
    assert response.choices[0].message.content == "Hello from beta."
    assert routing(response)["provider"] == "beta"
    assert "fell back after alpha" in routing(response)["reason"]


def test_a_route_nothing_listens_on_falls_back(client: OpenAI) -> None:
    response = client.chat.completions.create(model="with-dead", messages=HI)
    assert routing(response)["provider"] == "beta"
    assert "dead (all_providers_unavailable)" in routing(response)["reason"]


@pytest.mark.parametrize("fault", ["500", "429"])
def test_a_stream_that_fails_before_its_first_byte_falls_back(client: OpenAI, upstream_a: FakeOpenAI,
                                                              fault: str) -> None:
    upstream_a.fail_next(1, fault)
    chunks = list(client.chat.completions.create(model="reliable", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from beta."
    assert chunks[0].model_extra["_routing"]["provider"] == "beta"


@pytest.mark.parametrize(("fault", "status", "code"), [
    ("500", 502, "provider_error"),
    ("429", 429, "provider_rate_limit"),
])
def test_when_every_route_fails(client: OpenAI, upstream_a: FakeOpenAI, upstream_b: FakeOpenAI,
                                fault: str, status: int, code: str) -> None:
    upstream_a.fail_next(1, fault, retry_after=3)
    upstream_b.fail_next(1, fault, retry_after=3)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="reliable", messages=HI)
    assert caught.value.status_code == status
    assert caught.value.body["code"] == code
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "3"


def test_every_route_unreachable_is_503(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="all-dead", messages=HI)
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "all_providers_unavailable"


def test_routing_fallback_false_stops_at_the_first_failure(client: OpenAI, upstream_a: FakeOpenAI,
                                                           upstream_b: FakeOpenAI) -> None:
    upstream_a.fail_next(1, "500")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="reliable", messages=HI, extra_body={"routing": {"fallback": False}})
    assert caught.value.status_code == 502
    assert upstream_b.received == []


def test_a_request_the_upstream_rejects_is_answered_with_its_error_and_not_retried(
        client: OpenAI, upstream_a: FakeOpenAI, upstream_b: FakeOpenAI) -> None:
    upstream_a.fail_next(1, "400")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="reliable", messages=HI)
    assert caught.value.body == {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                                 "param": "temperature", "code": "invalid_value"}
    assert upstream_b.received == []


@pytest.mark.parametrize("fault", ["drop_after", "error_event"])
def test_a_stream_broken_after_its_first_chunk_ends_with_an_error_event(client: OpenAI, upstream_a: FakeOpenAI,
                                                                        fault: str) -> None:
    upstream_a.fail_next(1, fault, after_chunks=2)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="reliable", messages=HI, stream=True):
            received.append(chunk)
    assert len(received) == 2
    assert caught.value.body["code"] == "provider_error"


def test_request_id_is_echoed_or_made_on_every_response(gateway: Running) -> None:
    url = f"{gateway.base_url}/chat/completions"
    ok = httpx.post(url, json={"model": "fast", "messages": HI}, headers={
        "authorization": f"Bearer {TEST_KEY}", "x-request-id": "trace-123"})
    assert ok.headers["x-request-id"] == "trace-123"
    made = httpx.post(url, json={"model": "fast", "messages": HI})
    assert made.status_code == 401 and made.headers["x-request-id"].startswith("req_")
    odd = httpx.get(f"{gateway.url}/nowhere", headers={"x-request-id": "bad id\twith tab"})
    assert odd.status_code == 404 and odd.headers["x-request-id"].startswith("req_")
    assert odd.json()["error"]["code"] == "not_found"


def test_health_needs_no_key(gateway: Running) -> None:
    assert httpx.get(f"{gateway.url}/health").json() == {"status": "ok"}
