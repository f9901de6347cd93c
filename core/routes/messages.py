"""`POST /v1/messages` and `/v1/messages/count_tokens`: another wire format in front of every provider.

Each route of the model is tried in turn, as for chat completions. A provider that speaks the
format natively (an Anthropic provider) gets the request untouched; any other gets it translated
to core's format and answers translated back, streams event by event. The format itself — checks,
translation, errors — is handed in by the handlers (`InboundFormat`); core knows none of it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import sse
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_messages, load_object, require_model
from core.errors import GatewayError
from core.fallback import prepend
from core.gateway import Admitted, Gateway
from core.http import EventStream, endpoint, guarded, json_response, read_body
from core.routes.chat import SSE_HEADERS, check_context
from core.tokens import RunningCount, count_prompt_tokens
from core.types import JSON, ChatAdapter, InboundFormat, NamedEvent, NativeAdapter
from core.usage import Meter


def native(adapter: ChatAdapter, inbound: InboundFormat) -> NativeAdapter | None:
    return adapter if getattr(adapter, "native_format", None) == inbound.name else None   # type: ignore[return-value]


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
            return inbound.from_core(await adapter.chat(route.model, core_body))

        outcome = await gw.first(resolution, attempt)
        gw.bill(admitted.meter, resolution, outcome.route, outcome.value.get("usage"))
        return json_response(orjson.dumps(outcome.value))

    async def count_tokens(request: Request) -> Response:
        _, body, core_body, resolution, forwarded = await parse(request, counting=True)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if speaker := native(adapter, inbound):
                return await speaker.count_tokens(route.model, body, forwarded)
            return {"input_tokens": count_prompt_tokens(core_body)}   # cl100k: an estimate off OpenAI

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
    chunks = adapter.chat_stream(model, {**core_body, "stream_options": {"include_usage": True}})
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
        return _translated(adapter, inbound, route.model, body["model"], core_body)

    outcome = await gw.first_stream(resolution, open_stream)
    first, events = outcome.value

    def bill(usage: JSON | None) -> None:
        gw.bill(meter, resolution, outcome.route, usage)

    bill(None)
    return EventStream(guarded(_events(prepend(first, events), bill), inbound.stream_error), headers=SSE_HEADERS)


async def _events(events: AsyncGenerator[NamedEvent, None],
                  bill: Callable[[JSON | None], None]) -> AsyncGenerator[bytes, None]:
    """Events as SSE; their usage (input at message_start, output at message_delta) billed. A stream
    cut before its message_delta is billed for the output it delivered, counted (cl100k)."""
    delivered = RunningCount()
    finished = False
    try:
        async for name, data in events:
            if name == "message_start":
                bill((data.get("message") or {}).get("usage"))
            elif name == "message_delta":
                finished = True
                bill(data.get("usage"))
            elif name == "content_block_delta":
                delta = data.get("delta") or {}
                if piece := delta.get("text") or delta.get("partial_json") or delta.get("thinking"):
                    delivered.add(piece)
            yield sse.encode(orjson.dumps(data), name)
    finally:
        await events.aclose()
        if not finished and delivered:
            bill({"output_tokens": delivered.tokens()})
