"""Anthropic both ways, with both official SDKs: `/v1/messages` in front of an Anthropic provider
(native) and an OpenAI one (translated), and the OpenAI endpoints in front of an Anthropic provider."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pydantic
import pytest

from tests.e2e.conftest import closed_port_url
from tests.fakes.anthropic import TOOL_INPUT, FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

PNG = "iVBORw0KGgo="
TOOLS = [{"name": "get_weather", "description": "Weather now",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": TOOLS[0]["input_schema"]}}]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    cfg = config(
        {"gpt": upstream_a.base_url, "claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 2},
         "dead": closed_port_url()},
        {"claude-x": {"context_window": 200000, "routes": [{"provider": "claude", "model": "claude-sonnet"}]},
         "gpt-x": {"routes": [{"provider": "gpt", "model": "gpt-4o"}]},
         "claude-then-gpt": {"routes": [{"provider": "claude", "model": "claude-sonnet"},
                                        {"provider": "gpt", "model": "gpt-4o"}]},
         "gpt-then-claude": {"routes": [{"provider": "gpt", "model": "gpt-4o"},
                                        {"provider": "claude", "model": "claude-sonnet"}]},
         "gpt-reasoning": {"reasoning": True, "routes": [{"provider": "gpt", "model": "o4-mini"}]},
         "claude-tiny": {"context_window": 20, "routes": [{"provider": "claude", "model": "claude-sonnet"}]},
         "claude-old": {"routes": [{"provider": "claude", "model": "claude-3-5-haiku-20241022"}]}},
        gateway={"key_cache_ttl_s": 0})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


@pytest.fixture
def claude_sdk(gateway: Running) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.url, api_key=TEST_KEY, max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture
def openai_sdk(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as sdk:
        yield sdk


MODELS = [("claude-x", "Hello from claude."), ("gpt-x", "Hello from alpha.")]


def upstream(request: pytest.FixtureRequest, model: str):
    return request.getfixturevalue("upstream_claude" if model.startswith("claude") else "upstream_a")


# -- /v1/messages with the anthropic SDK --------------------------------------------------------------
@pytest.mark.parametrize(("model", "reply"), MODELS)
def test_text_with_system_and_history(claude_sdk, request, model: str, reply: str) -> None:
    message = claude_sdk.messages.create(model=model, max_tokens=64, system="Be brief.", messages=[
        {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}])
    assert message.content[0].text == reply
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    sent = upstream(request, model).last.body
    if model == "claude-x":                      # native: the request arrives as the client sent it
        assert sent["system"] == "Be brief." and sent["model"] == "claude-sonnet"
        assert [m["content"] for m in sent["messages"]] == ["Q1", "A1", "Q2"]
    else:                                        # translated into OpenAI's shape
        assert [(m["role"], m["content"]) for m in sent["messages"]] == [
            ("system", "Be brief."), ("user", "Q1"), ("assistant", "A1"), ("user", "Q2")]
        assert sent["max_tokens"] == 64


@pytest.mark.parametrize(("model", "reply"), MODELS)
def test_images_base64_and_url(claude_sdk, request, model: str, reply: str) -> None:
    claude_sdk.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What are these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}])
    parts = upstream(request, model).last.body["messages"][0]["content"]
    if model == "claude-x":
        assert parts[1]["source"]["data"] == PNG and parts[2]["source"]["url"] == "https://example.com/cat.jpg"
    else:
        assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
        assert parts[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}


@pytest.mark.parametrize(("model", "reply"), MODELS)
def test_a_tool_round_trip(claude_sdk, model: str, reply: str) -> None:
    first = claude_sdk.messages.create(model=model, max_tokens=64, tools=TOOLS,
                                       messages=[{"role": "user", "content": "Weather in Paris?"}])
    call = first.content[-1]
    assert (first.stop_reason, call.type, call.name, call.input) == ("tool_use", "tool_use", "get_weather", TOOL_INPUT)
    second = claude_sdk.messages.create(model=model, max_tokens=64, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees"}]}])
    assert second.content[0].text == "The tool said: 18 degrees"


def test_a_failed_tool_reaches_openai_as_an_error(claude_sdk, upstream_a) -> None:
    """`is_error` has no OpenAI field: the tool message says "Error: " and the model reads it."""
    claude_sdk.messages.create(model="gpt-x", max_tokens=64, tools=TOOLS, messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": TOOL_INPUT}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                                      "content": "weather service down"}]}])
    assert upstream_a.last.body["messages"][-1] == {"role": "tool", "tool_call_id": "toolu_1",
                                                     "content": "Error: weather service down"}


@pytest.mark.parametrize(("model", "reply"), MODELS)
def test_streaming_text(claude_sdk, model: str, reply: str) -> None:
    with claude_sdk.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        events = list(s)
        final = s.get_final_message()
    kinds = [event.type for event in events]
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    assert text == reply and final.content[0].text == reply
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert events[0].message.usage.input_tokens > 0       # told first, as Anthropic does, on either route
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize(("model", "reply"), MODELS)
def test_streaming_tool_arguments(claude_sdk, model: str, reply: str) -> None:
    with claude_sdk.messages.stream(model=model, max_tokens=64, tools=TOOLS,
                                    messages=[{"role": "user", "content": "Weather?"}]) as s:
        partial = [e.delta.partial_json for e in s if e.type == "content_block_delta"
                   and e.delta.type == "input_json_delta"]
        final = s.get_final_message()
    assert len(partial) > 1 and json.loads("".join(partial)) == TOOL_INPUT
    assert final.content[-1].input == TOOL_INPUT and final.stop_reason == "tool_use"


@pytest.mark.parametrize(("model", "script", "stop"), [
    ("claude-x", "max_tokens", "max_tokens"), ("claude-x", "stop_sequence", "stop_sequence"),
    ("gpt-x", "length", "max_tokens"), ("gpt-x", "content_filter", "refusal"),
])
def test_stop_reasons(claude_sdk, request, model: str, script: str, stop: str) -> None:
    fake = upstream(request, model)
    if model == "claude-x":
        fake.stop_reason = script
    else:
        fake.finish_reason = script
    message = claude_sdk.messages.create(model=model, max_tokens=5, stop_sequences=["END"],
                                         messages=[{"role": "user", "content": "hi"}])
    assert message.stop_reason == stop
    if stop == "stop_sequence":
        assert message.stop_sequence == "END"


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"])
def test_count_tokens(claude_sdk, request, model: str) -> None:
    counted = claude_sdk.messages.count_tokens(model=model, messages=[{"role": "user", "content": "one two three"}])
    assert counted.input_tokens >= 3
    if model == "claude-x":
        assert upstream(request, model).last.path == "/v1/messages/count_tokens"


def test_headers_forwarded_and_only_the_providers_key_goes_upstream(claude_sdk, upstream_claude) -> None:
    claude_sdk.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"anthropic-beta": "prompt-caching-2024-07-31",
                                              "anthropic-version": "2023-06-01"})
    sent = upstream_claude.last.headers
    assert sent["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent["anthropic-version"] == "2023-06-01"        # the client's, not the adapter's default
    assert TEST_KEY not in str(sent)


@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
def test_both_key_headers_are_accepted(gateway: Running, header: str) -> None:
    value = TEST_KEY if header == "x-api-key" else f"Bearer {TEST_KEY}"
    response = httpx.post(f"{gateway.url}/v1/messages", headers={header: value, "anthropic-version": "2023-06-01"},
                          json={"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.json()["type"] == "message"


def test_max_tokens_is_required(gateway: Running, upstream_claude) -> None:
    response = httpx.post(f"{gateway.url}/v1/messages", headers={"x-api-key": TEST_KEY},
                          json={"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 400
    assert response.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "max_tokens: Field required (a positive integer)"}}
    assert upstream_claude.received == []


@pytest.mark.parametrize(("call", "error", "status", "kind"), [
    ({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, anthropic.NotFoundError,
     404, "not_found_error"),
    ({"model": "claude-x", "max_tokens": 5, "messages": [{"role": "robot", "content": "hi"}]},
     anthropic.BadRequestError, 400, "invalid_request_error"),
    ({"model": "claude-x", "max_tokens": 5, "messages": []}, anthropic.BadRequestError, 400, "invalid_request_error"),
])
def test_bad_requests_get_anthropics_error_format(claude_sdk, upstream_claude, call, error, status, kind) -> None:
    with pytest.raises(error) as caught:
        claude_sdk.messages.create(**call)
    assert caught.value.status_code == status
    assert caught.value.body == {"type": "error",
                                 "error": {"type": kind, "message": caught.value.body["error"]["message"]}}
    assert upstream_claude.received == []


def test_a_wrong_key_is_an_authentication_error(gateway: Running) -> None:
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong-0000", max_retries=0) as sdk, \
            pytest.raises(anthropic.AuthenticationError) as caught:
        sdk.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(("fault", "error", "status", "kind"), [
    ("429", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("500", anthropic.InternalServerError, 502, "api_error"),
    ("400", anthropic.BadRequestError, 400, "invalid_request_error"),
])
def test_upstream_errors_on_messages(claude_sdk, upstream_claude, fault, error, status, kind) -> None:
    upstream_claude.fail_next(1, fault, retry_after=2)
    with pytest.raises(error) as caught:
        claude_sdk.messages.create(model="claude-x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status and caught.value.body["error"]["type"] == kind
    if fault == "400":
        assert caught.value.body["error"]["message"] == "messages.0.content: Input should be a valid list"


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"])
def test_a_stream_broken_midway_ends_with_an_error_event(claude_sdk, request, model: str) -> None:
    upstream(request, model).fail_next(1, "drop_after", after_chunks=4)
    seen = []
    with pytest.raises(anthropic.APIStatusError) as caught, \
            claude_sdk.messages.stream(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}]) as s:
        for event in s:
            seen.append(event.type)
    assert seen[0] == "message_start"
    assert caught.value.body["error"]["type"] == "api_error"


def test_messages_fall_back_across_formats(claude_sdk, upstream_claude, upstream_a) -> None:
    upstream_claude.fail_next(1, "503")
    message = claude_sdk.messages.create(model="claude-then-gpt", max_tokens=5,
                                         messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from alpha."
    upstream_claude.fail_next(1, "429")
    with claude_sdk.messages.stream(model="claude-then-gpt", max_tokens=5,
                                    messages=[{"role": "user", "content": "hi"}]) as s:
        assert "".join(s.text_stream) == "Hello from alpha."


# -- /v1/chat/completions in front of an Anthropic provider, with the openai SDK ---------------------------
def test_openai_chat_on_claude(openai_sdk, upstream_claude) -> None:
    reply = openai_sdk.chat.completions.create(model="claude-x", max_tokens=50, temperature=1.5, stop="END",
                                               messages=[{"role": "system", "content": "Be brief."},
                                                         {"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from claude."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert reply.model_extra["_routing"]["provider"] == "claude"
    sent = upstream_claude.last.body
    assert (sent["system"], sent["max_tokens"], sent["temperature"], sent["stop_sequences"]) == (
        "Be brief.", 50, 1.0, ["END"])


def test_openai_stream_and_tool_round_trip_on_claude(openai_sdk) -> None:
    chunks = list(openai_sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "w?"}],
                                                     tools=OPENAI_TOOLS, stream=True,
                                                     stream_options={"include_usage": True}))
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0].id == "toolu_fake_1" and calls[0].function.name == "get_weather"
    assert json.loads("".join(c.function.arguments for c in calls)) == TOOL_INPUT
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.completion_tokens > 0
    history = [{"role": "user", "content": "w?"},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": calls[0].id, "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps(TOOL_INPUT)}}]},
               {"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees"}]
    streamed = openai_sdk.chat.completions.create(model="claude-x", messages=history, tools=OPENAI_TOOLS, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "The tool said: 18 degrees"


def test_openai_stop_reasons_from_claude(openai_sdk, upstream_claude) -> None:
    upstream_claude.stop_reason = "max_tokens"
    reply = openai_sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize(("fault", "error", "status", "code"), [
    ("400", openai.BadRequestError, 400, "invalid_request_error"),
    ("503", openai.APIStatusError, 502, "provider_error"),
    ("429", openai.RateLimitError, 429, "provider_rate_limit"),
])
def test_claude_errors_in_openai_format(openai_sdk, upstream_claude, fault, error, status, code) -> None:
    upstream_claude.fail_next(1, fault)
    with pytest.raises(error) as caught:
        openai_sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status and caught.value.body["code"] == code


def test_chat_falls_back_from_openai_to_claude(openai_sdk, upstream_a) -> None:
    upstream_a.fail_next(1, "500")
    reply = openai_sdk.chat.completions.create(model="gpt-then-claude", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from claude."
    assert reply.model_extra["_routing"]["provider"] == "claude"


# -- shapes checked before translation; a translator's bug is ours ------------------------------------

def post_messages(gateway: Running, body: dict) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/messages", json=body, timeout=10,
                      headers={"x-api-key": TEST_KEY, "anthropic-version": "2023-06-01"})


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"])
@pytest.mark.parametrize(("content", "where"), [
    ([{"type": "text"}], "messages[0].content[0].text"),
    ([{"type": "text", "text": 5}], "messages[0].content[0].text"),
    ([{"type": "tool_use", "id": "t", "name": "f", "input": "not an object"}], "messages[0].content[0].input"),
    ([{"type": "image", "source": "https://x/y.png"}], "messages[0].content[0].source"),
    ([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text"}]}],
     "messages[0].content[0].content[0].text"),
])
def test_a_malformed_block_is_refused_before_any_upstream_on_every_route(gateway, upstream_claude, upstream_a,
                                                                         model, content, where) -> None:
    response = post_messages(gateway, {"model": model, "max_tokens": 5,
                                       "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith(where)
    assert upstream_claude.received == [] and upstream_a.received == []


def test_a_block_type_the_gateway_does_not_know_passes_to_anthropic_and_is_refused_in_translation(
        gateway, upstream_claude, upstream_a) -> None:
    block = {"type": "container_upload", "file_id": "file_123"}
    body = {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}]}
    assert post_messages(gateway, {**body, "model": "claude-x"}).status_code == 200
    assert upstream_claude.last.body["messages"][0]["content"][1] == block       # untouched
    refused = post_messages(gateway, {**body, "model": "gpt-x"})
    assert refused.status_code == 400 and "'container_upload'" in refused.json()["error"]["message"]
    assert upstream_a.received == []


def test_a_bug_in_a_translator_is_a_logged_500_in_the_endpoints_format(gateway, upstream_a, monkeypatch,
                                                                       caplog) -> None:
    from providers.anthropic.inbound import MessagesFormat

    def broken(self, body):
        return body["no such field"]

    monkeypatch.setattr(MessagesFormat, "to_core", broken)
    response = post_messages(gateway, {"model": "gpt-x", "max_tokens": 5, "messages": [{"role": "user",
                                                                                      "content": "hi"}]})
    assert response.status_code == 500
    assert response.json() == {"type": "error", "error": {"type": "api_error",
                                                          "message": "The gateway failed to handle this request"}}
    assert response.headers["x-request-id"] in caplog.text and "KeyError" in caplog.text
    assert upstream_a.received == []



@pytest.mark.parametrize(("model", "upstream_name"), [("claude-x", "upstream_claude"), ("gpt-x", "upstream_a")])
def test_upstream_connections_are_reused_after_streams(claude_sdk, request, model: str, upstream_name: str) -> None:
    upstream = request.getfixturevalue(upstream_name)
    upstream.received.clear()
    for _ in range(20):
        with claude_sdk.messages.stream(model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]) as s:
            s.until_done()
    connections = {r.peer for r in upstream.received}
    assert len(upstream.received) == 20 and len(connections) <= 2, len(connections)   # read to the end, pooled



class Title(pydantic.BaseModel):
    title: str
    words: int


@pytest.mark.parametrize("model", ["gpt-x", "claude-x"], ids=["pass-through", "translated"])
def test_openai_structured_output_reaches_either_provider(openai_sdk, upstream_a, upstream_claude, model) -> None:
    parsed = openai_sdk.chat.completions.parse(model=model, response_format=Title,
                                               messages=[{"role": "user", "content": "a title please"}])
    assert parsed.choices[0].message.parsed == Title(title="x", words=1)
    if model == "claude-x":                                       # as Anthropic's structured output
        output_format = upstream_claude.last.body["output_config"]["format"]
        assert output_format["type"] == "json_schema" and output_format["schema"]["required"] == ["title", "words"]
    else:
        assert upstream_a.last.body["response_format"]["json_schema"]["strict"] is True


class Weather(pydantic.BaseModel):
    city: str
    unit: str


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_structured_output_reaches_a_claude_without_it_as_a_forced_tool(openai_sdk, upstream_claude, stream) -> None:
    """Claude 3.5 Haiku predates `output_config.format`: the schema goes as a tool it must call, and
    the call's input comes back as the message's text."""
    if stream:
        with openai_sdk.chat.completions.stream(model="claude-old", response_format=Weather,
                                                messages=[{"role": "user", "content": "weather?"}]) as s:
            deltas = [e.delta for e in s if e.type == "content.delta"]
            completion = s.get_final_completion()
        assert len(deltas) > 1                                     # streamed as text, piece by piece
    else:
        completion = openai_sdk.chat.completions.parse(model="claude-old", response_format=Weather,
                                                       messages=[{"role": "user", "content": "weather?"}])
    choice = completion.choices[0]
    assert choice.message.parsed == Weather(**TOOL_INPUT) and choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    sent = upstream_claude.last.body
    assert "output_config" not in sent and sent["tool_choice"] == {"type": "tool", "name": "json_answer"}
    assert [t["name"] for t in sent["tools"]] == ["json_answer"]
    assert sent["tools"][0]["input_schema"]["required"] == ["city", "unit"]


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"], ids=["pass-through", "translated"])
def test_anthropic_structured_output_reaches_either_provider(claude_sdk, upstream_a, upstream_claude, model) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
              "additionalProperties": False}
    message = claude_sdk.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "title?"}],
                                         extra_body={"output_config": {"format": {"type": "json_schema",
                                                                                  "schema": schema}}})
    assert json.loads(message.content[0].text) == {"title": "x"}
    if model == "gpt-x":                                          # as OpenAI's response_format, strict
        assert upstream_a.last.body["response_format"] == {
            "type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
    else:
        assert upstream_claude.last.body["output_config"]["format"]["schema"] == schema


def test_the_anthropic_sdk_lists_models_in_anthropics_shape(claude_sdk, openai_sdk) -> None:
    listed = claude_sdk.models.list()
    assert [m.id for m in listed.data] == ["claude-x", "gpt-x", "claude-then-gpt", "gpt-then-claude", "gpt-reasoning",
                                           "claude-tiny", "claude-old"]
    assert listed.data[0].type == "model" and listed.has_more is False and listed.last_id == "claude-old"
    one = claude_sdk.models.retrieve("claude-x")
    assert one.id == "claude-x" and one.display_name == "claude-x" and one.created_at.year >= 2026
    assert [m.id for m in openai_sdk.models.list()][:2] == ["claude-x", "gpt-x"]     # OpenAI's shape unchanged


def test_the_anthropic_sdk_gets_model_errors_in_anthropics_format(gateway: Running, claude_sdk) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude_sdk.models.retrieve("no-such-model")
    assert missing.value.body["error"]["type"] == "not_found_error"
    with (anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong-0123456789", max_retries=0) as stranger,
          pytest.raises(anthropic.AuthenticationError) as refused):
        stranger.models.list()
    assert refused.value.response.json()["error"]["type"] == "authentication_error"


PDF = base64.b64encode(b"%PDF-1.4\n2 0 obj\n<</Length 3>>\nstream\nHi\nendstream\nendobj\n%%EOF\n").decode()


@pytest.mark.parametrize("model", ["gpt-x", "claude-x"], ids=["pass-through", "translated"])
def test_a_pdf_from_the_openai_sdk_reaches_either_provider(openai_sdk, upstream_a, upstream_claude, model) -> None:
    part = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "brief.pdf"}}
    openai_sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "summarize"}, part]}])
    if model == "claude-x":                                   # as an Anthropic document block, never dropped
        sent = upstream_claude.last.body["messages"][0]["content"]
        assert sent[1] == {"type": "document", "title": "brief.pdf",
                           "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}}
    else:
        assert upstream_a.last.body["messages"][0]["content"][1] == part


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"], ids=["pass-through", "translated"])
def test_a_pdf_from_the_anthropic_sdk_reaches_either_provider(claude_sdk, upstream_a, upstream_claude, model) -> None:
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
                "title": "brief.pdf"}
    claude_sdk.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": [
        {"type": "text", "text": "summarize"}, document]}])
    if model == "gpt-x":                                      # as a chat file part
        sent = upstream_a.last.body["messages"][0]["content"]
        assert sent[1] == {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}",
                                                    "filename": "brief.pdf"}}
    else:
        assert upstream_claude.last.body["messages"][0]["content"][1] == document


def test_content_a_translation_cannot_carry_is_refused_by_name_never_dropped(gateway, openai_sdk, upstream_claude,
                                                                              upstream_a) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        openai_sdk.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert refused.value.body["code"] == "unsupported_content" and "'input_audio'" in refused.value.body["message"]
    linked = {"type": "document", "source": {"type": "url", "url": "https://example.invalid/a.pdf"}}
    response = post_messages(gateway, {"model": "gpt-x", "max_tokens": 5,
                                       "messages": [{"role": "user", "content": [linked]}]})
    assert response.status_code == 400 and "'url' source" in response.json()["error"]["message"]
    assert upstream_claude.received == [] and upstream_a.received == []


@pytest.mark.parametrize("model", ["claude-x", "gpt-x"])
def test_the_answers_model_is_the_same_buffered_and_streamed(claude_sdk, model: str) -> None:
    hi = [{"role": "user", "content": "hi"}]
    buffered = claude_sdk.messages.create(model=model, max_tokens=16, messages=hi)
    with claude_sdk.messages.stream(model=model, max_tokens=16, messages=hi) as stream:
        streamed = stream.get_final_message()
    assert buffered.model == streamed.model == ("claude-sonnet" if model == "claude-x" else "gpt-4o")



@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_thinking_reaches_an_openai_reasoning_model_as_its_effort(claude_sdk, upstream_a, stream: bool) -> None:
    asked = {"max_tokens": 32000, "thinking": {"type": "enabled", "budget_tokens": 10000},
             "messages": [{"role": "user", "content": "hi"}]}
    for model in ("gpt-reasoning", "gpt-x"):
        if stream:
            with claude_sdk.messages.stream(model=model, **asked) as answer:
                answer.until_done()
        else:
            claude_sdk.messages.create(model=model, **asked)
        sent = upstream_a.last.body
        if model == "gpt-reasoning":         # a reasoning model: its token limit's name, and the effort
            assert sent["reasoning_effort"] == "medium" and sent["max_completion_tokens"] == 32000
            assert "max_tokens" not in sent
        else:                                # any other would refuse reasoning_effort
            assert "reasoning_effort" not in sent and sent["max_tokens"] == 32000



def test_a_prompt_over_the_window_is_refused_in_anthropics_words(claude_sdk, upstream_claude) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude_sdk.messages.create(model="claude-tiny", max_tokens=5,
                                   messages=[{"role": "user", "content": "many words here " * 20}])
    message = refused.value.body["error"]["message"]
    assert re.fullmatch(r"prompt is too long: \d+ tokens > 20 maximum", message), message   # Claude Code compacts
    assert upstream_claude.received == []
