"""`POST /v1/chat/completions`: checks, routing with fallback, and the answer buffered or streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import sse
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import parse_chat, upstream_body
from core.errors import GatewayError, RequestError, openai_error_bytes
from core.fallback import Outcome, first_stream, first_success, prepend
from core.gateway import Gateway
from core.http import EventStream, endpoint, guarded, json_response, read_body
from core.tokens import count_prompt_tokens, count_tokens, exceeds_window
from core.types import JSON, ChatAdapter
from core.usage import Meter

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
NO_OPTIMIZATION = {"cached": False, "original_tokens": 0, "optimized_tokens": 0, "tokens_saved": 0}


def routing_info(resolution: Resolution, outcome: Outcome[Any]) -> dict[str, str]:
    return {"provider": outcome.route.provider, "original_model": resolution.requested,
            "mapped_model": outcome.route.model, "reason": outcome.reason}


def check_context(body: JSON, resolution: Resolution) -> None:
    window = resolution.info.context_window if resolution.info else None
    if window and (tokens := exceeds_window(body, window)):
        raise RequestError(
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {tokens} tokens.", code="context_length_exceeded", param="messages")


def chat_routes(gw: Gateway) -> list[Route]:
    settings = gw.settings

    async def chat_completions(request: Request) -> Response:
        admitted = await gw.admit(request)
        body = parse_chat(await read_body(request, settings.max_request_bytes), settings)
        resolution = gw.resolve(admitted, body["model"])
        require_type(resolution, "chat")
        check_context(body, resolution)
        fallback = (body.get("routing") or {}).get("fallback", True) is not False
        upstream = upstream_body(body)
        if body.get("stream"):
            return await _stream(gw, admitted.meter, resolution, upstream, fallback)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, upstream)

        outcome = await first_success(resolution, gw.adapters, attempt, fallback)
        answer = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, answer.get("usage"))
        answer["_routing"] = routing_info(resolution, outcome)
        answer["_optimization"] = NO_OPTIMIZATION
        return json_response(orjson.dumps(answer))

    return [Route("/v1/chat/completions", endpoint(chat_completions), methods=["POST"])]


async def _stream(gw: Gateway, meter: Meter, resolution: Resolution, upstream: JSON, fallback: bool) -> Response:
    # Usage is always asked of the upstream, to be metered; the client sees it only if it asked too.
    wants_usage = bool((upstream.get("stream_options") or {}).get("include_usage"))
    asked = {**upstream, "stream_options": {**(upstream.get("stream_options") or {}), "include_usage": True}}
    outcome = await first_stream(resolution, gw.adapters,
                                 lambda adapter, route: adapter.chat_stream(route.model, asked), fallback)
    first, chunks = outcome.value
    if first is not None:
        first["_routing"] = routing_info(resolution, outcome)
        first["_optimization"] = NO_OPTIMIZATION

    def bill(usage: JSON | None) -> None:
        gw.bill(meter, resolution, outcome.route, usage)

    bill(None)
    metered = metered_chunks(prepend(first, chunks), bill, wants_usage, upstream)
    return EventStream(guarded(chunks_sse(metered), openai_stream_error), headers=SSE_HEADERS)


async def metered_chunks(chunks: AsyncGenerator[JSON, None], bill: Callable[[JSON | None], None], wants_usage: bool,
                         prompt: JSON) -> AsyncGenerator[JSON, None]:
    """Chunks as they come, their usage billed (and its chunk dropped unless the client asked for
    it). An upstream that reports no usage is billed by counting: cl100k, an estimate off OpenAI."""
    text: list[str] = []
    seen_usage = False
    try:
        async for chunk in chunks:
            if chunk.get("usage"):
                seen_usage = True
                bill(chunk["usage"])
                if not chunk.get("choices") and not wants_usage:
                    continue
            for choice in chunk.get("choices") or ():
                if content := (choice.get("delta") or {}).get("content") or choice.get("text"):
                    text.append(content)
            yield chunk
    finally:
        await chunks.aclose()
        if not seen_usage and text:
            bill({"prompt_tokens": count_prompt_tokens(prompt), "completion_tokens": count_tokens("".join(text))})


async def chunks_sse(chunks: AsyncGenerator[JSON, None]) -> AsyncGenerator[bytes, None]:
    """OpenAI-style chunks as SSE, ending with [DONE]."""
    try:
        async for chunk in chunks:
            yield sse.encode(orjson.dumps(chunk))
        yield sse.DONE
    finally:
        await chunks.aclose()


def openai_stream_error(err: GatewayError) -> bytes:
    """OpenAI's in-stream error: a data event with an `error` object, which the SDK raises; never a
    false [DONE] after it."""
    return sse.encode(openai_error_bytes(err))
