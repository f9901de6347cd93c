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
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import sse
from core.body import read_body
from core.catalog import Resolution, require_type
from core.catalog import Route as ModelRoute
from core.checks import check_context, check_messages, for_model, load_object, require_model, upstream_body
from core.errors import GatewayError, RequestError, shown
from core.gateway import Admitted, Gateway
from core.http import WEBSOCKET_REFUSED, endpoint, json_response
from core.storage.responses import ResponseStore
from core.streaming import Reading, chat_reading, stream_answer, with_usage
from core.types import JSON, ChatAdapter, ResponsesFormat, ResponsesTranslation, ResponseStream

ORDERS = ("asc", "desc")


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


def responses_routes(gw: Gateway, fmt: ResponsesFormat) -> list[Route]:
    settings = gw.settings

    async def create(request: Request) -> Response:
        admitted = await gw.admit(request)
        key = admitted.key
        body = load_object(await read_body(request, settings.max_request_bytes))
        require_model(body)
        _check(body)
        new_items = fmt.input_items(body)
        history: list[JSON] = []
        if previous := body.get("previous_response_id"):
            record = await _store(gw).get(key.id, previous)
            if record is None:
                raise not_found(previous, "previous_response_id")
            history = record["conversation"]
        translation = fmt.translation(body, history, new_items)
        chat = translation.chat
        check_messages(chat["messages"], settings)
        resolution = gw.resolve(admitted, body["model"], chat)
        require_type(resolution, "chat")
        check_context(resolution, lambda: chat)
        response_id, created_at = f"resp_{secrets.token_hex(24)}", int(time.time())
        upstream = upstream_body(chat)
        if body.get("stream"):
            return await _stream(gw, translation, admitted, upstream, resolution, history, new_items, response_id,
                                 created_at)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await adapter.chat(route.model, for_model(upstream, resolution.info or gw.catalog.info_of(route)))

        outcome = await gw.first(resolution, attempt)
        gw.bill(admitted.meter, resolution, outcome.route, outcome.value.get("usage"))
        response = translation.from_chat(outcome.value, response_id, created_at)
        if response["store"]:
            await _store(gw).put(key.id, response_id, _record(response, history, new_items))
        return json_response(orjson.dumps(response), headers=translation.headers or None)

    return [Route("/v1/responses", endpoint(create), methods=["POST"])]


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
    """The Responses event stream as a StreamFormat: its translator's events on the wire, and the
    response stored once whole — completed before `response.completed` says so, or failed."""

    def __init__(self, events: ResponseStream, save: Callable[[JSON], Awaitable[None]]) -> None:
        self._events, self._save = events, save

    def begin(self) -> bytes:
        return _encode(self._events.start())

    def encode(self, chunk: JSON) -> bytes:
        return _encode(self._events.feed(chunk))

    def reading(self, chunk: JSON) -> Reading:
        return chat_reading(chunk)

    async def end(self) -> bytes:
        finishing = self._events.done()
        await self._save(self._events.response)
        return _encode(finishing) + _encode(self._events.completed())

    async def fail(self, err: GatewayError) -> bytes:
        failure = self._events.failed(err)
        await self._save(self._events.response)
        return _encode(failure)


def _encode(named: list[tuple[str, JSON]]) -> bytes:
    return b"".join(sse.encode(orjson.dumps(data), kind) for kind, data in named)


async def _stream(gw: Gateway, translation: ResponsesTranslation, admitted: Admitted, upstream: JSON,
                  resolution: Resolution, history: list[JSON], new_items: list[JSON], response_id: str,
                  created_at: int) -> Response:
    asked = with_usage(upstream)      # the usage chunk passes on, as response.completed carries it
    store, key_id = gw.responses, admitted.key.id

    async def save(response: JSON) -> None:
        if response["store"] and store is not None:
            await store.put(key_id, response["id"], _record(response, history, new_items))

    def open_stream(adapter: ChatAdapter, route: ModelRoute) -> AsyncGenerator[JSON, None]:
        return adapter.chat_stream(route.model, for_model(asked, resolution.info or gw.catalog.info_of(route)))

    wire = ResponsesWire(translation.events(translation.skeleton(response_id, created_at)), save)
    return await stream_answer(gw, admitted.meter, resolution, open_stream, wire, lambda: upstream,
                               headers=translation.headers or None)
