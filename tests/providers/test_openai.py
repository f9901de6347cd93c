"""The OpenAI-compatible adapter against the fake upstream over real HTTP."""

import socket
import time

import pytest

from core.config import ProviderConfig
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UpstreamRejected,
)
from providers.openai import OpenAIAdapter
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import module_fake

pytestmark = pytest.mark.anyio
BODY = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "seed": 7,
        "response_format": {"type": "json_object"}, "logprobs": True, "vendor_extension": {"x": [1, 2]}}


fake = module_fake("fake", lambda: FakeOpenAI("up"))


@pytest.fixture
def adapter(fake: FakeOpenAI):
    return OpenAIAdapter("up", ProviderConfig(base_url=fake.base_url, api_key_env="FAKE_UPSTREAM_KEY",
                                              timeout_s=0.5, headers={"x-extra": "1"}), "sk-provider-secret")


async def test_request_and_answer_pass_through_unchanged(adapter: OpenAIAdapter, fake: FakeOpenAI) -> None:
    answer = await adapter.chat("upstream-model", BODY)
    sent = fake.last
    assert sent.body == {**BODY, "model": "upstream-model"}
    assert sent.headers["Authorization"] == "Bearer sk-provider-secret"
    assert sent.headers["x-extra"] == "1"
    assert answer["choices"][0]["message"]["content"] == "Hello from up."
    assert answer["system_fingerprint"] == "fp_fake" and answer["service_tier"] == "default"
    assert "model" not in BODY                    # the shared body is never mutated
    await adapter.aclose()


@pytest.mark.parametrize(("kind", "error", "status", "code"), [
    ("500", ProviderFailed, 502, "provider_error"),
    ("503", ProviderFailed, 502, "provider_error"),
    ("429", ProviderRateLimited, 429, "provider_rate_limit"),
    ("401", ProviderFailed, 502, "provider_error"),
    ("hang", ProviderTimeout, 502, "provider_error"),
    ("drop", ProviderError, 502, "provider_error"),
])
async def test_upstream_failures_become_retryable_provider_errors(adapter, fake, kind, error, status, code) -> None:
    fake.fail_next(1, kind, retry_after=2)
    started = time.monotonic()
    with pytest.raises(error) as caught:
        await adapter.chat("m", BODY)
    assert caught.value.retryable and caught.value.provider == "up"
    assert (caught.value.status, caught.value.code) == (status, code)
    assert time.monotonic() - started < 2          # a hang is cut at timeout_s (0.5 s)
    assert "sk-" not in caught.value.message       # an upstream's text quoting a key never surfaces
    if kind == "429":
        assert caught.value.retry_after == 2
    await adapter.aclose()


async def test_a_request_the_upstream_rejects_keeps_its_message_code_and_param(adapter, fake) -> None:
    fake.fail_next(1, "400")
    with pytest.raises(UpstreamRejected) as caught:
        await adapter.chat("m", BODY)
    err = caught.value
    assert not err.retryable
    assert (err.status, err.code, err.param) == (400, "invalid_value", "temperature")
    assert err.message == "Invalid value for 'temperature'."
    await adapter.aclose()


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    adapter = OpenAIAdapter("gone", ProviderConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout_s=1))
    with pytest.raises(ProviderUnavailable):
        await adapter.chat("m", BODY)
    await adapter.aclose()


async def test_stream_yields_chunks_until_done(adapter, fake) -> None:
    chunks = [c async for c in adapter.chat_stream("m", {**BODY, "stream_options": {"include_usage": True}})]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from up."
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert fake.last.body["stream"] is True
    await adapter.aclose()


async def test_stream_that_fails_to_start_raises_before_the_first_chunk(adapter, fake) -> None:
    fake.fail_next(1, "429")
    stream = adapter.chat_stream("m", BODY)
    with pytest.raises(ProviderRateLimited):
        await anext(stream)
    await adapter.aclose()


@pytest.mark.parametrize("kind", ["drop_after", "error_event"])
async def test_stream_broken_midway_raises_after_what_arrived(adapter, fake, kind) -> None:
    fake.fail_next(1, kind, after_chunks=2)
    received = []
    with pytest.raises(ProviderFailed):
        async for chunk in adapter.chat_stream("m", BODY):
            received.append(chunk)
    assert len(received) == 2
    await adapter.aclose()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "1e400", "someday"])
def test_a_retry_after_that_is_no_finite_delay_is_ignored(value: str) -> None:
    """SEC-28: `Retry-After: nan` once made the gateway answer 500."""
    from providers.http import retry_after

    assert retry_after({"retry-after": value}) is None
    assert retry_after({"retry-after-ms": value}) is None
    assert retry_after({"retry-after": "2"}) == 2.0


async def test_an_upstream_redirect_is_not_followed_with_the_providers_key() -> None:
    """SEC-22: aiohttp followed redirects, carrying `x-api-key`, `api-key` and configured headers."""
    from aiohttp import web

    target = FakeOpenAI("elsewhere")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{target.base_url}/chat/completions")

    with target:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", redirect)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        adapter = OpenAIAdapter("up", ProviderConfig(base_url=f"http://127.0.0.1:{port}/v1",
                                                     headers={"x-secret": "s"}), "sk-provider-secret")
        try:
            with pytest.raises(ProviderFailed):
                await adapter.chat("m", BODY)
        finally:
            await adapter.aclose()
            await runner.cleanup()
        assert target.received == []
