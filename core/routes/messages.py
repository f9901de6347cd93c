"""`POST /v1/messages` and `/v1/messages/count_tokens`: another wire format in front of every provider.

Each route of the model is tried in turn, as for chat completions. A provider that speaks the
format natively (an Anthropic provider) gets the request untouched; any other gets it translated
to core's format and answers translated back, streams event by event. The format itself — checks,
translation, errors — is handed in by the handlers (`InboundFormat`); core knows none of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import cached_property
from typing import cast
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_context, check_messages, for_model, load_object, parse_json, require_model
from core.errors import GatewayError
from core.gateway import Admitted, Gateway
from core.http import endpoint, json_response
from core.streaming import stream_answer, with_usage
from core.tokens import count_prompt_tokens
from core.types import JSON, ChatAdapter, Forwarded, InboundFormat, NamedEvent, NativeAdapter, StreamTranslator


def native(adapter: ChatAdapter, inbound: InboundFormat) -> NativeAdapter | None:
    return cast(NativeAdapter, adapter) if inbound.name in adapter.serves else None


@dataclass
class Parsed:
    """A checked Messages request. Its translation to core's format is made on first need — a
    translated route, `auto`, a prompt near the context window — so a native route never pays for it."""

    admitted: Admitted
    body: JSON
    raw_bytes: int
    forwarded: Forwarded
    inbound: InboundFormat
    resolution: Resolution | None = None

    @cached_property
    def core(self) -> JSON:
        return self.inbound.to_core(self.body)


def messages_routes(gw: Gateway, inbound: InboundFormat) -> list[Route]:
    settings = gw.settings

    async def parse(request: Request, counting: bool = False) -> Parsed:
        admitted = await gw.admit(request, billable=not counting)
        raw = await read_body(request, settings.max_request_bytes)
        body = await parse_json(raw, load_object)
        model = require_model(body)
        inbound.check(body, counting)
        check_messages(body["messages"], settings)       # the same counts and sizes as any chat request
        forwarded = Forwarded({h: v for h in inbound.forwarded_headers if (v := request.headers.get(h))},
                              urlencode([(k, v) for k, v in request.query_params.multi_items()
                                         if k in inbound.forwarded_query]))
        parsed = Parsed(admitted, body, len(raw), forwarded, inbound)
        parsed.resolution = gw.resolve(admitted, model, parsed.core if model == "auto" else None)
        require_type(parsed.resolution, "chat")
        return parsed

    async def messages(request: Request) -> Response:
        parsed = await parse(request)
        body, resolution = parsed.body, parsed.resolution
        assert resolution is not None
        check_context(resolution, lambda: parsed.core, parsed.raw_bytes)
        if parsed.admitted.pays:
            await gw.hold(parsed.admitted, resolution, body.get("max_tokens"))
        if body.get("stream"):
            return await _stream(gw, parsed)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if speaker := native(adapter, inbound):
                return await speaker.native(route.model, body, parsed.forwarded)
            inbound.require_translatable(body)
            fitted = for_model(parsed.core, resolution.info or gw.catalog.info_of(route))
            return inbound.from_core(await adapter.chat(route.model, fitted))

        outcome = await gw.first(resolution, attempt)
        gw.bill(parsed.admitted.meter, resolution, outcome.route, inbound.usage_of(outcome.value))
        return json_response(orjson.dumps(outcome.value))

    async def count_tokens(request: Request) -> Response:
        parsed = await parse(request, counting=True)
        assert parsed.resolution is not None

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if speaker := native(adapter, inbound):
                return await speaker.count_tokens(route.model, parsed.body, parsed.forwarded)
            return inbound.token_count(count_prompt_tokens(parsed.core))   # cl100k: an estimate off OpenAI

        outcome = await gw.first(parsed.resolution, attempt)
        return json_response(orjson.dumps(outcome.value))

    def render(err: GatewayError) -> bytes:
        return inbound.error_body(err)

    return [
        Route("/v1/messages", endpoint(messages, render), methods=["POST"]),
        Route("/v1/messages/count_tokens", endpoint(count_tokens, render), methods=["POST"]),
    ]


async def _translated(adapter: ChatAdapter, inbound: InboundFormat, model: str, requested: str,
                      core_body: JSON) -> AsyncGenerator[NamedEvent, None]:
    """A core-format stream as the inbound format's events; usage is asked for so it can be told. The
    first event tells the prompt's tokens, which the upstream tells only at the end: they are counted
    on a worker thread while the upstream prepares its first chunk (cl100k, an estimate)."""
    counting = asyncio.get_running_loop().run_in_executor(None, count_prompt_tokens, core_body)
    translator: StreamTranslator | None = None
    chunks = adapter.chat_stream(model, with_usage(core_body))
    try:
        async for chunk in chunks:
            translator = translator or inbound.stream_from_core(requested, await counting)
            for event in translator.feed(chunk):
                yield event
        for event in (translator or inbound.stream_from_core(requested, await counting)).finish():
            yield event
    finally:
        await chunks.aclose()


async def _stream(gw: Gateway, parsed: Parsed) -> Response:
    inbound, body, resolution = parsed.inbound, parsed.body, parsed.resolution
    assert resolution is not None

    def open_stream(adapter: ChatAdapter, route: ModelRoute) -> AsyncGenerator[NamedEvent, None]:
        if speaker := native(adapter, inbound):
            return speaker.native_stream(route.model, body, parsed.forwarded)
        inbound.require_translatable(body)
        fitted = for_model(parsed.core, resolution.info or gw.catalog.info_of(route))
        return _translated(adapter, inbound, route.model, body["model"], fitted)

    return await stream_answer(gw, parsed.admitted.meter, resolution, open_stream, inbound.stream(),
                               lambda: parsed.core)
