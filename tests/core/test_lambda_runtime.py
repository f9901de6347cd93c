"""The streaming runtime against the fake Runtime API: what Lambda receives, chunk by chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from core.lambda_runtime import RuntimeAPI, StreamingHandler, load_handler, prelude, serve
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names
from handlers.wiring import app_for, build_gateway
from tests.fakes.lambda_runtime import FakeRuntimeAPI, event
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, config

pytestmark = pytest.mark.anyio
CHAT = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def handler(upstream_a: FakeOpenAI, dynamo_url: str) -> AsyncIterator[StreamingHandler]:
    cfg = config({"alpha": upstream_a.base_url}, {"fast": {"routes": [{"provider": "alpha", "model": "m"}]}})
    gw = build_gateway(cfg, DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS))
    yield StreamingHandler(app_for(gw, ["chat"]))
    await gw.aclose()


async def run(handler: StreamingHandler, *events: dict, on_chunk=None) -> FakeRuntimeAPI:
    fake = FakeRuntimeAPI(list(events), on_chunk=on_chunk)
    address = await fake.start()
    try:
        await asyncio.wait_for(serve(handler, RuntimeAPI(address), invocations=len(events)), 20)
    finally:
        await fake.stop()
    return fake


def sse_events(body: bytes) -> list[str]:
    return [block.removeprefix("data: ") for block in body.decode().split("\n\n") if block]


async def test_a_streamed_chat_arrives_in_chunks_the_first_before_the_upstream_finished(
        handler: StreamingHandler, upstream_a: FakeOpenAI) -> None:
    gate = upstream_a.hold_after(2)
    first_data = asyncio.Event()

    def on_chunk(data: bytes) -> None:
        if b"data: " in data:
            first_data.set()

    fake = FakeRuntimeAPI([event("chat-stream.json", TEST_KEY, {**CHAT, "stream": True})], on_chunk=on_chunk)
    address = await fake.start()
    runtime = asyncio.ensure_future(serve(handler, RuntimeAPI(address), invocations=1))
    await asyncio.wait_for(first_data.wait(), 10)
    assert not gate.is_set()                       # the upstream is still holding the rest back
    received = fake.received[fake.order[0]]
    assert not received.done.is_set()
    gate.set()
    await asyncio.wait_for(runtime, 10)
    await fake.stop()

    assert received.headers["lambda-runtime-function-response-mode"] == "streaming"
    assert received.headers["transfer-encoding"] == "chunked"
    assert received.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
    assert len(received.chunks) >= 5               # prelude, then the chunks one by one
    assert received.chunks[0][1].endswith(b"\0" * 8)
    prelude_ = received.prelude
    assert prelude_["statusCode"] == 200 and prelude_["cookies"] == []
    assert prelude_["headers"]["content-type"].startswith("text/event-stream")
    assert prelude_["headers"]["x-request-id"]
    events = sse_events(received.body)
    assert events[-1] == "[DONE]"
    text = "".join(orjson.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text == "Hello from alpha."
    assert received.trailers == {} and received.stream_error is None


async def test_a_failure_after_the_first_byte_yields_the_error_trailers(handler, upstream_a) -> None:
    upstream_a.fail_next(1, "drop_after", after_chunks=2)
    fake = await run(handler, event("chat-stream.json", TEST_KEY, {**CHAT, "stream": True}))
    received = fake.received[fake.order[0]]
    assert received.prelude["statusCode"] == 200
    events = sse_events(received.body)
    assert orjson.loads(events[-1])["error"]["code"] == "provider_error"   # the client still learns in-band
    error = received.stream_error
    assert error is not None and error["type"] == "Apex.provider_error"
    assert error["body"]["errorType"] == "Apex.provider_error" and "alpha" in error["body"]["errorMessage"]


async def test_a_non_streaming_request_is_one_prelude_and_one_body(handler) -> None:
    fake = await run(handler, event("chat.json", TEST_KEY, CHAT))
    received = fake.received[fake.order[0]]
    assert len(received.chunks) == 2
    assert received.prelude["statusCode"] == 200
    assert received.prelude["headers"]["content-type"] == "application/json"
    assert orjson.loads(received.body)["choices"][0]["message"]["content"] == "Hello from alpha."


async def test_errors_keep_their_status_in_the_prelude(handler) -> None:
    fake = await run(handler, event("chat.json", "sk-wrong-key-000", CHAT))
    received = fake.received[fake.order[0]]
    assert received.prelude["statusCode"] == 401
    assert orjson.loads(received.body)["error"]["code"] == "invalid_api_key"


async def test_a_function_url_event_streams_too(handler) -> None:
    fake = await run(handler, event("chat-function-url.json", TEST_KEY, {**CHAT, "stream": True}))
    received = fake.received[fake.order[0]]
    assert received.prelude["statusCode"] == 200
    assert sse_events(received.body)[-1] == "[DONE]"


async def test_post_response_work_runs_after_the_stream_closes_and_before_the_next_poll(handler) -> None:
    seen: list[tuple[str, bool]] = []
    fake_ref: list[FakeRuntimeAPI] = []

    async def after() -> None:
        fake = fake_ref[0]
        seen.append(("after", all(fake.received[r].done.is_set() for r in fake.order[: len(seen) + 1])))

    handler.after_invocation = after
    fake = FakeRuntimeAPI([event("chat.json", TEST_KEY, CHAT), event("chat.json", TEST_KEY, CHAT)])
    fake_ref.append(fake)
    address = await fake.start()
    await asyncio.wait_for(serve(handler, RuntimeAPI(address), invocations=2), 20)
    await fake.stop()
    assert seen == [("after", True), ("after", True)]


async def test_an_app_that_fails_before_responding_reports_an_invocation_error() -> None:
    async def broken(scope, receive, send) -> None:
        raise RuntimeError("boom")

    fake = await run(StreamingHandler(broken), event("chat.json", TEST_KEY, CHAT))
    error = fake.received[fake.order[0]].error
    assert error is not None and error["errorType"] == "RuntimeError" and error["errorMessage"] == "boom"


async def test_only_streaming_handlers_run_here() -> None:
    with pytest.raises(TypeError, match="not a StreamingHandler"):
        load_handler("core.lambda_runtime.DELIMITER")


async def test_prelude_format() -> None:
    raw = prelude(201, [(b"Content-Type", b"text/plain"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"),
                        (b"Vary", b"Accept"), (b"Vary", b"Origin")])
    head, delimiter = raw[:-8], raw[-8:]
    assert delimiter == b"\0" * 8
    assert orjson.loads(head) == {"statusCode": 201, "cookies": ["a=1", "b=2"],
                                  "headers": {"content-type": "text/plain", "vary": "Accept, Origin"}}
