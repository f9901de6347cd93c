"""The one streaming pipeline, driven directly: what it bills however a stream ends, and how a
failure after the first byte reads in the endpoint's own format."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import pytest

from core import context
from core.errors import GatewayError, ProviderFailed
from core.http import StreamAborted
from core.streaming import ChatStream, Metered, Pipeline, chat_reading
from core.tokens import count_prompt_tokens, count_tokens
from core.types import JSON
from providers.anthropic.inbound import MessagesStream

pytestmark = pytest.mark.anyio
PROMPT = {"messages": [{"role": "user", "content": "Write the longest poem you can about the sea and its tides."}]}


def chunk(delta: JSON, usage: JSON | None = None) -> JSON:
    found: JSON = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
    return {**found, "usage": usage} if usage else found


async def items(*sent: Any, fail: Exception | None = None) -> AsyncGenerator[Any, None]:
    for item in sent:
        yield item
    if fail is not None:
        raise fail


def pipeline(first: Any, rest: AsyncGenerator[Any, None], fmt: Any = None) -> tuple[Pipeline[Any], list[JSON]]:
    billed: list[JSON] = []
    metered = Metered(lambda u: billed.append(u or {}), lambda: PROMPT)
    return Pipeline(first, rest, fmt or ChatStream(), metered, None), billed


async def drain(body: Pipeline[Any]) -> bytes:
    out = b""
    try:
        async for data in body:
            out += data
    finally:
        await body.aclose()
    return out


async def test_a_client_gone_before_the_first_item_still_pays_for_the_prompt() -> None:
    body, billed = pipeline(chunk({"role": "assistant", "content": ""}), items(chunk({"content": "never sent"})))
    await body.aclose()                       # the client left before the body was ever pulled
    assert billed == [{"prompt_tokens": count_prompt_tokens(PROMPT), "completion_tokens": 0}]


async def test_tool_call_arguments_and_reasoning_are_counted_when_the_upstream_reports_no_usage() -> None:
    arguments, reasoning = '{"city": "Paris", "units": "metric"}', "The user wants the weather."
    calls = {"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}
    body, billed = pipeline(chunk({"role": "assistant", "reasoning_content": reasoning}), items(chunk(calls)))
    out = await drain(body)
    assert out.endswith(b"data: [DONE]\n\n")
    assert billed[-1] == {"prompt_tokens": count_prompt_tokens(PROMPT),
                          "completion_tokens": count_tokens(reasoning + arguments)}


async def test_usage_the_upstream_reports_is_taken_and_nothing_is_estimated() -> None:
    usage = {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127}
    body, billed = pipeline(chunk({"content": "Hi"}), items({"choices": [], "usage": usage}))
    out = await drain(body)
    assert billed == [usage]
    assert b'"usage"' in out                          # ChatStream() passes usage: the client asked for it


async def test_the_usage_chunk_is_dropped_when_the_client_did_not_ask_for_it() -> None:
    body, _ = pipeline(chunk({"content": "Hi"}), items({"choices": [], "usage": {"prompt_tokens": 1}}),
                       ChatStream(wants_usage=False))
    assert b'"usage"' not in await drain(body)


async def test_a_provider_failure_mid_stream_ends_in_the_formats_error_event() -> None:
    body, billed = pipeline(chunk({"content": "Hello"}), items(fail=ProviderFailed("upstream hung up")))
    with pytest.raises(StreamAborted) as aborted:
        await drain(body)
    assert aborted.value.error.code == "provider_error"
    assert billed[-1]["completion_tokens"] == 1        # "Hello" was delivered


class Exploding(ChatStream):
    def encode(self, item: JSON) -> bytes:
        if item["choices"][0]["delta"].get("content") == "boom":
            raise KeyError("fucntion")                  # a bug of ours in an encoder
        return super().encode(item)


async def test_a_bug_after_the_first_byte_is_an_internal_error_event_logged_with_the_request_id(caplog) -> None:
    context.begin("req_pipeline_test")
    body, _ = pipeline(chunk({"content": "fine"}), items(chunk({"content": "boom"})), Exploding())
    out = b""
    with caplog.at_level(logging.ERROR, "apex.stream"), pytest.raises(StreamAborted) as aborted:
        async for data in body:
            out += data
    await body.aclose()
    assert aborted.value.error.status == 500 and aborted.value.error.code == "internal_error"
    last = orjson.loads(out.split(b"data: ")[-1])
    assert last["error"]["code"] == "internal_error" and b"[DONE]" not in out
    assert "req_pipeline_test" in caplog.text and "KeyError" in caplog.text


async def test_anthropic_events_tell_the_prompt_at_the_start_and_the_output_at_the_delta() -> None:
    wire = MessagesStream()
    start = ("message_start", {"message": {"usage": {"input_tokens": 12, "cache_creation_input_tokens": 100,
                                                     "cache_read_input_tokens": 50, "output_tokens": 1}}})
    assert wire.reading(start) == ({"prompt_tokens": 162, "prompt_tokens_details": {     # 1 output: a placeholder
        "cached_tokens": 50, "cache_write_tokens": 100}}, "")
    assert wire.reading(("content_block_delta", {"delta": {"type": "thinking_delta", "thinking": "Hm."}})) == (
        None, "Hm.")
    assert wire.reading(("message_delta", {"usage": {"output_tokens": 30}})) == ({"completion_tokens": 30}, "")
    failed = await wire.fail(GatewayError("broken", status=502))
    assert failed.startswith(b"event: error\n")


async def test_a_chat_chunk_is_read_for_every_kind_of_generated_text() -> None:
    legacy = {"choices": [{"index": 0, "text": "once upon"}]}
    assert chat_reading(legacy) == (None, "once upon")
    assert chat_reading(chunk({"reasoning": "think", "content": "say"})) == (None, "saythink")
