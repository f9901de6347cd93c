"""The Anthropic adapter against the fake Anthropic upstream over real HTTP."""

import json

import pytest

from core.config import ProviderConfig
from core.errors import ProviderFailed, ProviderRateLimited, ProviderTimeout, UpstreamRejected
from core.types import Forwarded
from providers.anthropic import AnthropicAdapter
from tests.fakes.anthropic import THINKING, TOOL_INPUT, FakeAnthropic
from tests.fakes.server import module_fake

pytestmark = pytest.mark.anyio
CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}


fake = module_fake("fake", lambda: FakeAnthropic("claude"))


@pytest.fixture
def adapter(fake: FakeAnthropic):
    return AnthropicAdapter("claude", ProviderConfig(kind="anthropic", base_url=fake.url + "/v1",
                                                     api_key_env="FAKE_ANTHROPIC_KEY", timeout_s=0.5),
                            "sk-ant-provider-secret")


async def test_chat_is_translated_there_and_back_with_the_providers_key(adapter, fake) -> None:
    completion = await adapter.chat("claude-3-5-sonnet", CHAT)
    assert completion["choices"][0]["message"]["content"] == "Hello from claude."
    assert completion["choices"][0]["finish_reason"] == "stop"
    sent = fake.last
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-3-5-sonnet" and sent.body["system"] == "Be brief."
    assert sent.headers["x-api-key"] == "sk-ant-provider-secret"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    await adapter.aclose()


async def test_streamed_tool_arguments_arrive_as_openai_deltas(adapter) -> None:
    body = {**CHAT, "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            "stream_options": {"include_usage": True}}
    chunks = [c async for c in adapter.chat_stream("claude-3-5-sonnet", body)]
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if c["choices"] and
             c["choices"][0]["delta"].get("tool_calls")]
    assert calls[0]["id"] == "toolu_fake_1" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == TOOL_INPUT
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    await adapter.aclose()


@pytest.mark.parametrize(("kind", "error"), [
    ("429", ProviderRateLimited), ("503", ProviderFailed), ("500", ProviderFailed), ("401", ProviderFailed),
    ("hang", ProviderTimeout),
])
async def test_upstream_failures_are_retryable(adapter, fake, kind, error) -> None:
    fake.fail_next(1, kind, retry_after=4)
    with pytest.raises(error) as caught:
        await adapter.chat("m", CHAT)
    assert caught.value.retryable
    assert "x-api-key" not in caught.value.message
    if kind == "429":
        assert caught.value.retry_after == 4
    await adapter.aclose()


async def test_a_rejected_request_keeps_anthropics_message_and_type(adapter, fake) -> None:
    fake.fail_next(1, "400")
    with pytest.raises(UpstreamRejected) as caught:
        await adapter.chat("m", CHAT)
    assert (caught.value.status, caught.value.code) == (400, "invalid_request_error")
    assert caught.value.message == "messages.0.content: Input should be a valid list"
    await adapter.aclose()


@pytest.mark.parametrize("kind", ["drop_after", "error_event"])
async def test_a_stream_broken_midway_raises_after_what_arrived(adapter, fake, kind) -> None:
    fake.fail_next(1, kind, after_chunks=4)
    received = []
    with pytest.raises(ProviderFailed):
        async for chunk in adapter.chat_stream("m", CHAT):
            received.append(chunk)
    assert received and received[0]["choices"][0]["delta"]["role"] == "assistant"
    await adapter.aclose()


async def test_native_requests_pass_untouched_with_forwarded_headers(adapter, fake) -> None:
    body = {"model": "alias", "max_tokens": 20, "system": [{"type": "text", "text": "S",
                                                            "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 1024}}
    headers = Forwarded({"anthropic-beta": "prompt-caching-2024-07-31", "anthropic-version": "2023-06-01",
                         "x-other": "no"}, "beta=true")
    message = await adapter.native("claude-3-5-sonnet", body, headers)
    assert message["content"] == [THINKING, {"type": "text", "text": "Hello from claude."}]   # thinking kept whole
    assert fake.last.body == {**body, "model": "claude-3-5-sonnet"}
    assert fake.last.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "x-other" not in fake.last.headers
    assert fake.last.query == {"beta": "true"}
    events = [kind async for kind, _ in adapter.native_stream("claude-3-5-sonnet", body, headers)]
    assert events[0] == "message_start" and events[-1] == "message_stop" and "ping" in events
    counted = await adapter.count_tokens("claude-3-5-sonnet", body, headers)
    assert counted["input_tokens"] >= 1 and "max_tokens" not in fake.last.body
    assert fake.last.path == "/v1/messages/count_tokens" and fake.last.query == {"beta": "true"}
    await adapter.aclose()
