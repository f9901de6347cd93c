"""`GET /v1/models` and `GET /v1/models/{id}`: the configured models a client can reach, in OpenAI's
shape, or in an inbound format's when the request speaks it (the Anthropic SDK's `models.list()`), errors
included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.catalog import ModelInfo
from core.errors import GatewayError, RequestError
from core.gateway import Gateway
from core.http import Endpoint, endpoint, error_response, json_response
from core.types import InboundFormat

TYPES = ("chat", "completion", "embedding", "image")


def model_object(model_id: str, info: ModelInfo | None, provider: str, created: int) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": provider,
        "provider": provider,
        "type": info.type if info else "chat",
        "context_window": info.context_window if info else None,
        "pricing": {"input": info.price_in, "output": info.price_out} if info else None,
        "quality": info.quality if info else None,
    }


def spoken(request: Request, formats: Mapping[str, Callable[[], InboundFormat]]) -> InboundFormat | None:
    """The inbound format a request speaks, by the header only its clients send (the Anthropic SDK's
    `anthropic-version`); None for OpenAI's."""
    for header, make in formats.items():
        if header in request.headers:
            return make()
    return None


def models_routes(gw: Gateway, formats: Mapping[str, Callable[[], InboundFormat]] | None = None) -> list[Route]:
    formats = formats or {}

    def in_spoken_format(handler: Endpoint) -> Endpoint:
        """Errors in the format the request speaks, as its answers are (the Anthropic SDK reads
        Anthropic's error shape)."""
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as err:
                if fmt := spoken(request, formats):
                    return error_response(err, fmt.error_body)
                raise

        run.__name__ = handler.__name__
        return run

    async def list_models(request: Request) -> Response:
        await gw.admit(request, billable=False)
        provider = request.query_params.get("provider") or None
        kind = request.query_params.get("type") or None
        if kind is not None and kind not in TYPES:
            raise RequestError(f"type must be one of {', '.join(TYPES)}", code="invalid_type", param="type")
        data = [model_object(m.id, m, provider or m.owner, gw.started_at)
                for m in gw.catalog.listed(provider=provider, type=kind)]
        if fmt := spoken(request, formats):
            return json_response(orjson.dumps(fmt.model_list(data)))
        return json_response(orjson.dumps({"object": "list", "data": data}))

    async def retrieve_model(request: Request) -> Response:
        await gw.admit(request, billable=False)
        model_id = request.path_params["model_id"]
        resolution = gw.catalog.resolve(model_id)
        provider = resolution.routes[0].provider
        found = model_object(model_id, resolution.info, provider, gw.started_at)
        if fmt := spoken(request, formats):
            return json_response(orjson.dumps(fmt.model_view(found)))
        return json_response(orjson.dumps(found))

    return [
        Route("/v1/models", endpoint(in_spoken_format(list_models)), methods=["GET"]),
        Route("/v1/models/{model_id:path}", endpoint(in_spoken_format(retrieve_model)), methods=["GET"]),
    ]
