"""`POST /v1/chat/completions`: checks, routing with fallback, and the answer buffered or streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import sse
from core.cache import Assembled, ResponseCache, as_chunks
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import parse_chat, upstream_body
from core.errors import GatewayError, RequestError, openai_error_bytes
from core.fallback import Outcome, prepend
from core.gateway import Gateway
from core.http import EventStream, endpoint, guarded, json_response, read_body
from core.tokens import RunningCount, count_prompt_tokens, exceeds_window
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
        resolution = gw.resolve(admitted, body["model"], body)
        require_type(resolution, "chat")
        check_context(body, resolution)
        fallback = (body.get("routing") or {}).get("fallback", True) is not False
        optimization = NO_OPTIMIZATION
        if body.get("optimize", admitted.limits.optimize) is True:
            from core.routes.optimize import DEFAULT_THRESHOLD, optimize_messages  # cold start
            body, optimization = await optimize_messages(gw, admitted, body, DEFAULT_THRESHOLD)
        upstream = upstream_body(body)
        cached = gw.cache.key(admitted.key.id, body, request.headers) if gw.cache is not None else None
        if cached is not None and (hit := await gw.cache.get(cached)) is not None:   # type: ignore[union-attr]
            return _from_cache(admitted.meter, hit, body)
        headers = {"x-cache": "MISS"} if cached is not None else None
        if body.get("stream"):
            return await _stream(gw, admitted.meter, resolution, upstream, fallback, cached, headers, optimization)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, upstream)

        outcome = await gw.first(resolution, attempt, fallback)
        answer = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, answer.get("usage"))
        answer["_routing"] = routing_info(resolution, outcome)
        answer["_optimization"] = optimization
        if cached is not None:
            await gw.cache.put(cached, answer)   # type: ignore[union-attr]
        return json_response(orjson.dumps(answer), headers=headers)

    return [Route("/v1/chat/completions", endpoint(chat_completions), methods=["POST"])]


def _from_cache(meter: Meter, hit: JSON, body: JSON) -> Response:
    """A cached answer, buffered or as a stream; it used no upstream tokens."""
    meter.cached = True
    meter.provider = (hit.get("_routing") or {}).get("provider", "")
    hit["_optimization"] = {**NO_OPTIMIZATION, "cached": True}
    if not body.get("stream"):
        return json_response(orjson.dumps(hit), headers={"x-cache": "HIT"})
    chunks = as_chunks(hit, bool((body.get("stream_options") or {}).get("include_usage")))
    if chunks:
        chunks[0]["_routing"], chunks[0]["_optimization"] = hit.get("_routing"), hit["_optimization"]
    return EventStream(chunks_sse(_replay(chunks)), headers={**SSE_HEADERS, "x-cache": "HIT"})


async def _replay(chunks: list[JSON]) -> AsyncGenerator[JSON, None]:
    for chunk in chunks:
        yield chunk


async def _into_cache(chunks: AsyncGenerator[JSON, None], cache: ResponseCache, name: str,
                      extras: JSON) -> AsyncGenerator[JSON, None]:
    """Chunks as they pass, put back together and cached once the stream has ended well."""
    assembled = Assembled()
    try:
        async for chunk in chunks:
            assembled.feed(chunk)
            yield chunk
    finally:
        await chunks.aclose()
    if not assembled.too_large:
        await cache.put(name, {**assembled.completion(), **extras})


async def _stream(gw: Gateway, meter: Meter, resolution: Resolution, upstream: JSON, fallback: bool,
                  cached: str | None = None, headers: dict[str, str] | None = None,
                  optimization: JSON = NO_OPTIMIZATION) -> Response:
    # Usage is always asked of the upstream, to be metered; the client sees it only if it asked too.
    wants_usage = bool((upstream.get("stream_options") or {}).get("include_usage"))
    asked = {**upstream, "stream_options": {**(upstream.get("stream_options") or {}), "include_usage": True}}
    outcome = await gw.first_stream(resolution, lambda adapter, route: adapter.chat_stream(route.model, asked),
                                    fallback)
    first, chunks = outcome.value
    if first is not None:
        first["_routing"] = routing_info(resolution, outcome)
        first["_optimization"] = optimization

    def bill(usage: JSON | None) -> None:
        gw.bill(meter, resolution, outcome.route, usage)

    bill(None)
    stream = prepend(first, chunks)
    if cached is not None and gw.cache is not None:
        extras = {"_routing": routing_info(resolution, outcome)}
        stream = _into_cache(stream, gw.cache, cached, extras)
    metered = metered_chunks(stream, bill, wants_usage, upstream)
    return EventStream(guarded(chunks_sse(metered), openai_stream_error), headers={**SSE_HEADERS, **(headers or {})})


async def metered_chunks(chunks: AsyncGenerator[JSON, None], bill: Callable[[JSON | None], None], wants_usage: bool,
                         prompt: JSON) -> AsyncGenerator[JSON, None]:
    """Chunks as they come, their usage billed (and its chunk dropped unless the client asked for
    it). An upstream that reports no usage is billed by counting: cl100k, an estimate off OpenAI."""
    delivered = RunningCount()
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
                    delivered.add(content)
            yield chunk
    finally:
        await chunks.aclose()
        if not seen_usage and delivered:
            bill({"prompt_tokens": count_prompt_tokens(prompt), "completion_tokens": delivered.tokens()})


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
