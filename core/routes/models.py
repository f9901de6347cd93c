"""`GET /v1/models` and `GET /v1/models/{id}`: the configured models a client can reach."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.catalog import ModelInfo
from core.errors import RequestError
from core.gateway import Gateway
from core.http import endpoint, json_response

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


def models_routes(gw: Gateway) -> list[Route]:
    async def list_models(request: Request) -> Response:
        await gw.admit(request, billable=False)
        provider = request.query_params.get("provider") or None
        kind = request.query_params.get("type") or None
        if kind is not None and kind not in TYPES:
            raise RequestError(f"type must be one of {', '.join(TYPES)}", code="invalid_type", param="type")
        data = [model_object(m.id, m, provider or m.owner, gw.started_at)
                for m in gw.catalog.listed(provider=provider, type=kind)]
        return json_response(orjson.dumps({"object": "list", "data": data}))

    async def retrieve_model(request: Request) -> Response:
        await gw.admit(request, billable=False)
        model_id = request.path_params["model_id"]
        resolution = gw.catalog.resolve(model_id)
        provider = resolution.routes[0].provider
        return json_response(orjson.dumps(model_object(model_id, resolution.info, provider, gw.started_at)))

    return [
        Route("/v1/models", endpoint(list_models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", endpoint(retrieve_model), methods=["GET"]),
    ]
