"""`POST /v1/chat/completions`: checks, routing with fallback, and the answer buffered or streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.cache import as_chunks
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_context, parse_chat, parse_json, upstream_body
from core.fallback import Outcome, routing_info
from core.gateway import Gateway
from core.http import EventStream, endpoint, json_response
from core.streaming import SSE_HEADERS, CacheSlot, ChatStream, stream_answer, with_usage
from core.types import JSON, ChatAdapter
from core.usage import Meter

NO_OPTIMIZATION = {"cached": False, "original_tokens": 0, "optimized_tokens": 0, "tokens_saved": 0}


def chat_routes(gw: Gateway) -> list[Route]:
    settings = gw.settings

    async def chat_completions(request: Request) -> Response:
        admitted = await gw.admit(request)
        raw = await read_body(request, settings.max_request_bytes)
        body = await parse_json(raw, lambda raw: parse_chat(raw, settings))
        resolution = gw.resolve(admitted, body["model"], body)
        require_type(resolution, "chat")
        check_context(resolution, lambda: body, len(raw))
        fallback = (body.get("routing") or {}).get("fallback", True) is not False
        optimization = NO_OPTIMIZATION
        if body.get("optimize", admitted.limits.optimize) is True:
            from core.routes.optimize import DEFAULT_THRESHOLD, optimize_messages  # cold start
            body, optimization = await optimize_messages(gw, admitted, body, DEFAULT_THRESHOLD)
        upstream = upstream_body(body)
        cache = gw.cache
        cached = cache.key(admitted.key.id, body, request.headers) if cache is not None else None
        if cache is not None and cached is not None and (hit := await cache.get(cached)) is not None:
            return _from_cache(admitted.meter, hit, body)
        headers = {"x-cache": "MISS"} if cached is not None else None
        if admitted.pays:
            await gw.hold(admitted, resolution, body.get("max_completion_tokens") or body.get("max_tokens"))
        if body.get("stream"):
            return await _stream(gw, admitted.meter, resolution, upstream, fallback, cached, headers, optimization)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, upstream)

        outcome = await gw.first(resolution, attempt, fallback)
        answer = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, answer.get("usage"))
        answer["_routing"] = routing_info(resolution, outcome)
        answer["_optimization"] = optimization
        if cache is not None and cached is not None:
            await cache.put(cached, answer)
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
    return EventStream(_replay(chunks), headers={**SSE_HEADERS, "x-cache": "HIT"})


async def _replay(chunks: list[JSON]) -> AsyncGenerator[bytes, None]:
    wire = ChatStream()
    for chunk in chunks:
        yield wire.encode(chunk)
    yield await wire.end()


async def _stream(gw: Gateway, meter: Meter, resolution: Resolution, upstream: JSON, fallback: bool,
                  cached: str | None, headers: dict[str, str] | None, optimization: JSON) -> Response:
    # Usage is always asked of the upstream, to be metered; the client sees it only if it asked too.
    asked = with_usage(upstream)
    wants_usage = bool((upstream.get("stream_options") or {}).get("include_usage"))

    def committed(outcome: Outcome[Any], first: JSON | None) -> None:
        if first is not None:
            first["_routing"] = routing_info(resolution, outcome)
            first["_optimization"] = optimization

    def cache_slot(outcome: Outcome[Any]) -> CacheSlot | None:
        if cached is None or gw.cache is None:
            return None
        return CacheSlot(gw.cache, cached, {"_routing": routing_info(resolution, outcome)})

    return await stream_answer(gw, meter, resolution, lambda adapter, route: adapter.chat_stream(route.model, asked),
                               ChatStream(wants_usage), lambda: upstream, fallback=fallback, headers=headers,
                               cache=cache_slot, committed=committed)
