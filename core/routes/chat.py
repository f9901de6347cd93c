"""`POST /v1/chat/completions`: checks, routing with fallback, and the answer buffered or streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
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
from core.fallback import Outcome, first_stream, first_success
from core.gateway import Gateway
from core.http import EventStream, endpoint, guarded, json_response, read_body
from core.tokens import exceeds_window
from core.types import JSON, ChatAdapter

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
        await gw.auth.authenticate(request.headers)
        body = parse_chat(await read_body(request, settings.max_request_bytes), settings)
        resolution = gw.catalog.resolve(body["model"])
        require_type(resolution, "chat")
        check_context(body, resolution)
        fallback = (body.get("routing") or {}).get("fallback", True) is not False
        upstream = upstream_body(body)
        if body.get("stream"):
            return await _stream(gw, resolution, upstream, fallback)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, upstream)

        outcome = await first_success(resolution, gw.adapters, attempt, fallback)
        answer = outcome.value
        answer["_routing"] = routing_info(resolution, outcome)
        answer["_optimization"] = NO_OPTIMIZATION
        return json_response(orjson.dumps(answer))

    return [Route("/v1/chat/completions", endpoint(chat_completions), methods=["POST"])]


async def _stream(gw: Gateway, resolution: Resolution, upstream: JSON, fallback: bool) -> Response:
    outcome = await first_stream(resolution, gw.adapters,
                                 lambda adapter, route: adapter.chat_stream(route.model, upstream), fallback)
    first, chunks = outcome.value
    if first is not None:
        first["_routing"] = routing_info(resolution, outcome)
        first["_optimization"] = NO_OPTIMIZATION
    return EventStream(guarded(chunks_sse(first, chunks), openai_stream_error), headers=SSE_HEADERS)


async def chunks_sse(first: JSON | None, chunks: AsyncGenerator[JSON, None]) -> AsyncGenerator[bytes, None]:
    """OpenAI-style chunks as SSE, ending with [DONE]."""
    try:
        if first is not None:
            yield sse.encode(orjson.dumps(first))
            async for chunk in chunks:
                yield sse.encode(orjson.dumps(chunk))
        yield sse.DONE
    finally:
        await chunks.aclose()


def openai_stream_error(err: GatewayError) -> bytes:
    """OpenAI's in-stream error: a data event with an `error` object, which the SDK raises; never a
    false [DONE] after it."""
    return sse.encode(openai_error_bytes(err))
