"""`POST /v1/messages` and `/v1/messages/count_tokens`: another wire format in front of every provider.

Each route of the model is tried in turn, as for chat completions. A provider that speaks the
format natively (an Anthropic provider) gets the request untouched; any other gets it translated
to core's format and answers translated back, streams event by event. The format itself — checks,
translation, errors — is handed in by the handlers (`InboundFormat`); core knows none of it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_context, check_messages, load_object, require_model
from core.errors import GatewayError
from core.gateway import Admitted, Gateway
from core.http import endpoint, json_response
from core.streaming import stream_answer, with_usage
from core.tokens import count_prompt_tokens
from core.types import JSON, ChatAdapter, InboundFormat, NamedEvent, NativeAdapter
from core.usage import Meter


def native(adapter: ChatAdapter, inbound: InboundFormat) -> NativeAdapter | None:
    return cast(NativeAdapter, adapter) if inbound.name in adapter.serves else None


def messages_routes(gw: Gateway, inbound: InboundFormat) -> list[Route]:
    settings = gw.settings

    async def parse(request: Request,
                    counting: bool = False) -> tuple[Admitted, JSON, JSON, Resolution, dict[str, str]]:
        admitted = await gw.admit(request, billable=not counting)
        body = load_object(await read_body(request, settings.max_request_bytes))
        require_model(body)
        inbound.check(body, counting)
        core_body = inbound.to_core(body)
        check_messages(core_body["messages"], settings)
        resolution = gw.resolve(admitted, body["model"], core_body)
        require_type(resolution, "chat")
        forwarded = {h: v for h in inbound.forwarded_headers if (v := request.headers.get(h))}
        return admitted, body, core_body, resolution, forwarded

    async def messages(request: Request) -> Response:
        admitted, body, core_body, resolution, forwarded = await parse(request)
        check_context(core_body, resolution)
        if body.get("stream"):
            return await _stream(gw, admitted.meter, inbound, body, core_body, resolution, forwarded)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if speaker := native(adapter, inbound):
                return await speaker.native(route.model, body, forwarded)
            inbound.require_translatable(body)
            return inbound.from_core(await adapter.chat(route.model, core_body))

        outcome = await gw.first(resolution, attempt)
        gw.bill(admitted.meter, resolution, outcome.route, inbound.usage_of(outcome.value))
        return json_response(orjson.dumps(outcome.value))

    async def count_tokens(request: Request) -> Response:
        _, body, core_body, resolution, forwarded = await parse(request, counting=True)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if speaker := native(adapter, inbound):
                return await speaker.count_tokens(route.model, body, forwarded)
            return inbound.token_count(count_prompt_tokens(core_body))   # cl100k: an estimate off OpenAI

        outcome = await gw.first(resolution, attempt)
        return json_response(orjson.dumps(outcome.value))

    def render(err: GatewayError) -> bytes:
        return inbound.error_body(err)

    return [
        Route("/v1/messages", endpoint(messages, render), methods=["POST"]),
        Route("/v1/messages/count_tokens", endpoint(count_tokens, render), methods=["POST"]),
    ]


async def _translated(adapter: ChatAdapter, inbound: InboundFormat, model: str, requested: str,
                      core_body: JSON) -> AsyncGenerator[NamedEvent, None]:
    """A core-format stream as the inbound format's events; usage is asked for so it can be told."""
    translator = inbound.stream_from_core(requested)
    chunks = adapter.chat_stream(model, with_usage(core_body))
    try:
        async for chunk in chunks:
            for event in translator.feed(chunk):
                yield event
        for event in translator.finish():
            yield event
    finally:
        await chunks.aclose()


async def _stream(gw: Gateway, meter: Meter, inbound: InboundFormat, body: JSON, core_body: JSON,
                  resolution: Resolution, forwarded: dict[str, str]) -> Response:
    def open_stream(adapter: ChatAdapter, route: ModelRoute) -> AsyncGenerator[NamedEvent, None]:
        if speaker := native(adapter, inbound):
            return speaker.native_stream(route.model, body, forwarded)
        inbound.require_translatable(body)
        return _translated(adapter, inbound, route.model, body["model"], core_body)

    return await stream_answer(gw, meter, resolution, open_stream, inbound.stream(), core_body)
