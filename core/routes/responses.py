"""`/v1/responses`: create (buffered or streamed), retrieve, list input items, delete.

A response is answered by any chat route through core's format (the translation is handed in by
the handlers) with the usual fallback, then stored — after it completes, with the conversation so
far, so `previous_response_id` continues it with one read. A stream that fails after its first byte
ends with `response.failed` and is stored as failed, never as completed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import sse
from core.body import read_body
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_context, check_messages, for_model, load_object, parse_json, require_model, upstream_body
from core.config import GatewaySettings
from core.errors import GatewayError, RequestError, shown
from core.fallback import Outcome
from core.gateway import Admitted, Gateway
from core.http import WEBSOCKET_REFUSED, endpoint, json_response
from core.storage.responses import ResponseStore
from core.streaming import Reading, chat_reading, stream_answer, with_usage
from core.tokens import count_prompt_tokens
from core.types import (
    JSON,
    RESPONSES,
    ChatAdapter,
    NamedEvent,
    ResponsesAdapter,
    ResponsesFormat,
    ResponsesTranslation,
    ResponseStream,
)

ORDERS = ("asc", "desc")
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512     # OpenAI's bounds: what is stored stays small
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _store(gw: Gateway) -> ResponseStore:
    assert gw.responses is not None, "the responses routes need the responses table"
    return gw.responses


def not_found(response_id: str, param: str | None = None) -> RequestError:
    return RequestError(f"Response with id '{shown(response_id)}' not found.", code="not_found", status=404,
                        param=param)


def _check(body: JSON) -> None:
    for field, kind in (("store", bool), ("stream", bool), ("previous_response_id", str), ("instructions", str),
                        ("metadata", dict)):
        if body.get(field) is not None and not isinstance(body[field], kind):
            raise RequestError(f"{field} must be a {kind.__name__}", code="invalid_type", param=field)
    metadata = body.get("metadata") or {}
    if len(metadata) > METADATA_PAIRS or not all(
            len(k) <= METADATA_KEY and isinstance(v, str) and len(v) <= METADATA_VALUE for k, v in metadata.items()):
        raise RequestError(f"metadata: at most {METADATA_PAIRS} pairs, keys of up to {METADATA_KEY} characters and "
                           f"string values of up to {METADATA_VALUE}, as OpenAI allows", code="invalid_metadata",
                           param="metadata")


@dataclass
class Asked:
    """One create request, read and checked: its body, its stored history, and (on first need) its
    translation to chat, which a route to an upstream serving the Responses API never needs."""

    body: JSON
    history: list[JSON]
    fmt: ResponsesFormat
    settings: GatewaySettings
    _translation: ResponsesTranslation | None = None

    def translated(self) -> ResponsesTranslation:
        if self._translation is None:
            self._translation = self.fmt.translation(self.body, self.history, self.new_items)
            check_messages(self._translation.chat["messages"], self.settings)
        return self._translation

    @cached_property
    def new_items(self) -> list[JSON]:
        """The input as items to store (checked); a provider that serves the Responses API gets the
        input as sent, so a request to it that is not stored never needs them."""
        return self.fmt.input_items(self.body)

    @property
    def headers(self) -> dict[str, str] | None:
        return self._translation.headers or None if self._translation is not None else None

    @cached_property
    def native(self) -> JSON:
        """The request for an upstream that serves the Responses API: as sent, the stored conversation
        (if it continues one) expanded before its input."""
        return self.fmt.native_request(self.body, self.history)


def responses_routes(gw: Gateway, fmt: ResponsesFormat) -> list[Route]:
    settings = gw.settings

    async def read(request: Request, admitted: Admitted) -> Asked:
        """The request checked, and the conversation it continues read."""
        body = await parse_json(await read_body(request, settings.max_request_bytes), load_object)
        require_model(body)
        _check(body)
        history: list[JSON] = []
        if previous := body.get("previous_response_id"):
            record = await _store(gw).get(admitted.key.id, previous)
            if record is None:
                raise not_found(previous, "previous_response_id")
            history = record["conversation"]
        return Asked(body, history, fmt, settings)

    def resolve(admitted: Admitted, asked: Asked) -> Resolution:
        resolution = gw.resolve(admitted, asked.body["model"],
                                asked.translated().chat if asked.body["model"] == "auto" else None)
        require_type(resolution, "chat")
        if not all(RESPONSES in gw.adapters[r.provider].serves for r in resolution.routes if r.provider in gw.adapters):
            chat = asked.translated().chat     # a chat route may answer: its refusals come before any upstream
            check_context(resolution, lambda: chat)
        return resolution

    async def answer(asked: Asked, resolution: Resolution, response_id: str, created_at: int,
                     path: str = "responses", translated: Asked | None = None) -> Outcome[tuple[JSON, JSON | None]]:
        """The first route's answer: the response (or what `path` answers natively), and its usage in
        core's format; a chat route answers `translated` when given."""

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> tuple[JSON, JSON | None]:
            if RESPONSES in adapter.serves:
                answered = await cast(ResponsesAdapter, adapter).responses(route.model, asked.native, path)
                return answered, fmt.chat_usage(answered.get("usage"))
            translation = (translated or asked).translated()
            info = resolution.info or gw.catalog.info_of(route)
            completion = await adapter.chat(route.model, for_model(upstream_body(translation.chat), info))
            return translation.from_chat(completion, response_id, created_at), completion.get("usage")

        return await gw.first(resolution, attempt)

    async def create(request: Request) -> Response:
        admitted = await gw.admit(request)
        key = admitted.key
        asked = await read(request, admitted)
        body, history = asked.body, asked.history
        resolution = resolve(admitted, asked)
        if admitted.pays:
            await gw.hold(admitted, resolution, body.get("max_output_tokens"))
        response_id, created_at = f"resp_{secrets.token_hex(24)}", int(time.time())
        if body.get("stream"):
            return await _stream(gw, asked, admitted, resolution, response_id, created_at)

        outcome = await answer(asked, resolution, response_id, created_at)
        response, usage = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, usage)
        if response.get("store", True) is not False and body.get("store", True) is not False:
            await _store(gw).put(key.id, response["id"], _record(response, history, asked.new_items))
        return json_response(orjson.dumps(response), headers=asked.headers)

    async def count_input(request: Request) -> Response:
        """The input's tokens: counted by an upstream that serves the Responses API, else by the
        gateway (cl100k, an estimate) on the translated request."""
        admitted = await gw.admit(request, billable=False)
        asked = await read(request, admitted)
        resolution = resolve(admitted, asked)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            if RESPONSES in adapter.serves:
                return await cast(ResponsesAdapter, adapter).responses(route.model, asked.native,
                                                                       "responses/input_tokens")
            return fmt.token_count(count_prompt_tokens(asked.translated().chat))

        return json_response(orjson.dumps((await gw.first(resolution, attempt)).value))

    async def compact(request: Request) -> Response:
        """The conversation compacted: by an upstream that serves the Responses API, else as the
        translation compacts (its summary, in a `compaction` item)."""
        admitted = await gw.admit(request)
        asked = await read(request, admitted)
        raw = asked.body.get("input")
        items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
        body = {**asked.body, "store": False, "input": [*items, {"type": "compaction_trigger"}]}
        summarizing = Asked(body, asked.history, fmt, settings)
        resolution = resolve(admitted, summarizing)
        if admitted.pays:
            await gw.hold(admitted, resolution, None)
        created_at = int(time.time())
        outcome = await answer(asked, resolution, f"cmp_{secrets.token_hex(24)}", created_at, "responses/compact",
                               summarizing)
        answered, usage = outcome.value
        gw.bill(admitted.meter, resolution, outcome.route, usage)
        if answered.get("object") == "response":        # translated: the response, as a compaction
            answered = {"id": answered["id"], "object": "response.compaction", "created_at": created_at,
                        "output": answered["output"], "usage": answered["usage"]}
        return json_response(orjson.dumps(answered))

    return [Route("/v1/responses", endpoint(create), methods=["POST"]),
            Route("/v1/responses/compact", endpoint(compact), methods=["POST"]),
            Route("/v1/responses/input_tokens", endpoint(count_input), methods=["POST"])]


def stored_responses_routes(gw: Gateway) -> list[Route]:
    """Reading and deleting stored responses, and refusing the WebSocket transport: buffered, and no
    provider involved."""

    async def record(request: Request) -> JSON:
        """The caller's own stored record named in the path, or 404."""
        key = (await gw.admit(request, billable=False)).key
        response_id = request.path_params["response_id"]
        found = await _store(gw).get(key.id, response_id)
        if found is None:
            raise not_found(response_id)
        return found

    async def retrieve(request: Request) -> Response:
        return json_response(orjson.dumps((await record(request))["response"]))

    async def input_items(request: Request) -> Response:
        return json_response(orjson.dumps(_page((await record(request))["input_items"], request.query_params)))

    async def transport(request: Request) -> Response:
        """`GET /v1/responses` is how Codex asks for the Responses WebSocket transport: a 426 makes it
        fall back to HTTPS at once (any other answer makes it retry for seconds)."""
        raise WEBSOCKET_REFUSED

    async def delete(request: Request) -> Response:
        key = (await gw.admit(request, billable=False)).key
        response_id = request.path_params["response_id"]
        if not await _store(gw).delete(key.id, response_id):
            raise not_found(response_id)
        return json_response(orjson.dumps({"id": response_id, "object": "response", "deleted": True}))

    return [
        Route("/v1/responses", endpoint(transport), methods=["GET"]),
        Route("/v1/responses/{response_id}", endpoint(retrieve), methods=["GET"]),
        Route("/v1/responses/{response_id}/input_items", endpoint(input_items), methods=["GET"]),
        Route("/v1/responses/{response_id}", endpoint(delete), methods=["DELETE"]),
    ]


def _record(response: JSON, history: list[JSON], new_items: list[JSON]) -> JSON:
    return {"response": response, "input_items": new_items,
            "conversation": [*history, *new_items, *response["output"]]}


def _page(items: list[JSON], query: Any) -> JSON:
    """OpenAI's list pagination: `order` (desc by default), `after` an item id, `limit` 1..100."""
    order = query.get("order", "desc")
    if order not in ORDERS:
        raise RequestError("order must be 'asc' or 'desc'", code="invalid_value", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise RequestError("limit must be an integer from 1 to 100", code="invalid_value", param="limit")
    ordered = items if order == "asc" else items[::-1]
    if after := query.get("after"):
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise RequestError(f"No input item with id '{shown(after)}'", code="invalid_value", param="after")
        ordered = ordered[ids.index(after) + 1:]
    data = ordered[:limit]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": len(ordered) > limit}


class ResponsesWire:
    """The Responses event stream as a StreamFormat, whichever kind of route was committed to: an
    upstream's own Responses events pass as they come; chat chunks go through the translation's
    events. Either way the response is stored once whole — before the client is told it is complete
    (the terminal event waits for the store), or as failed."""

    def __init__(self, asked: Asked, response_id: str, created_at: int,
                 save: Callable[[JSON], Awaitable[None]]) -> None:
        self._asked, self._id, self._created_at, self._save = asked, response_id, created_at, save
        self._events: ResponseStream | None = None      # the translation's, once a chat chunk came
        self._native: JSON | None = None                # the upstream's response, as its events tell it
        self._sequence = 0
        self._terminal = b""
        self._cost: float | None = None                 # the request's, for the terminal event (`_cost`)

    def _translated(self) -> tuple[ResponseStream, bytes]:
        if self._events is not None:
            return self._events, b""
        translation = self._asked.translated()
        self._events = translation.events(translation.skeleton(self._id, self._created_at))
        return self._events, _encode(self._events.start())

    def begin(self) -> bytes:
        return b""          # the first item tells which kind of stream this is

    def encode(self, item: JSON | NamedEvent) -> bytes:
        if isinstance(item, tuple):
            kind, data = item
            if isinstance(data.get("response"), dict):
                self._native = data["response"]
            self._sequence = int(data.get("sequence_number") or self._sequence) + 1
            if kind in TERMINAL_EVENTS:
                self._terminal = _encode([item])
                return b""
            return _encode([item])
        events, opening = self._translated()
        return opening + _encode(events.feed(item))

    def reading(self, item: JSON | NamedEvent) -> Reading:
        if not isinstance(item, tuple):
            return chat_reading(item)
        kind, data = item
        if kind in TERMINAL_EVENTS and isinstance(data.get("response"), dict):
            return self._asked.fmt.chat_usage(data["response"].get("usage")), ""
        delta = data.get("delta")
        return None, delta if kind.endswith(".delta") and isinstance(delta, str) else ""

    def costed(self, item: JSON | NamedEvent, cost: float) -> JSON | NamedEvent:
        """The terminal event carries `_cost` beside its response (the stored response stays as it was)."""
        if isinstance(item, tuple) and item[0] in TERMINAL_EVENTS:
            return item[0], sse.with_cost(item[1], cost)
        self._cost = cost          # a translated stream's terminal event is made at its end
        return item

    async def end(self) -> bytes:
        if self._native is not None:
            await self._save(self._native)
            return self._terminal
        events, opening = self._translated()
        finishing = events.done()
        await self._save(events.response)
        completed = events.completed()
        if self._cost is not None:
            completed = [(kind, sse.with_cost(data, self._cost)) for kind, data in completed]
        return opening + _encode(finishing) + _encode(completed)

    async def fail(self, err: GatewayError) -> bytes:
        if self._native is not None:
            self._native = self._asked.fmt.failed(self._native, err)
            await self._save(self._native)
            return _encode([("response.failed", {"type": "response.failed", "sequence_number": self._sequence,
                                                 "response": self._native})])
        events, opening = self._translated()
        failure = events.failed(err)
        await self._save(events.response)
        return opening + _encode(failure)


def _encode(named: list[NamedEvent]) -> bytes:
    return b"".join(sse.encode(orjson.dumps(data), kind) for kind, data in named)


async def _stream(gw: Gateway, asked: Asked, admitted: Admitted, resolution: Resolution, response_id: str,
                  created_at: int) -> Response:
    store, key_id = gw.responses, admitted.key.id

    async def save(response: JSON) -> None:
        if response.get("store", True) is not False and asked.body.get("store", True) is not False \
                and store is not None:
            await store.put(key_id, response["id"], _record(response, asked.history, asked.new_items))

    def open_stream(adapter: ChatAdapter, route: ModelRoute) -> AsyncGenerator[JSON | NamedEvent, None]:
        if RESPONSES in adapter.serves:
            return cast(ResponsesAdapter, adapter).responses_stream(route.model, asked.native)
        chat = with_usage(upstream_body(asked.translated().chat))   # usage asked, as response.completed tells it
        return adapter.chat_stream(route.model, for_model(chat, resolution.info or gw.catalog.info_of(route)))

    wire = ResponsesWire(asked, response_id, created_at, save)
    return await stream_answer(gw, admitted.meter, resolution, open_stream, wire,
                               lambda: asked.translated().chat, headers=asked.headers)
