"""One buffered OpenAI endpoint that adapters serve as they are (embeddings, images): checks, model
type, routing with fallback to a route whose provider has the capability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.catalog import Route as ModelRoute
from core.catalog import require_type
from core.checks import load_object, parse_json, require_model
from core.fallback import require
from core.gateway import Gateway
from core.http import endpoint, json_response
from core.types import EMBEDDINGS, IMAGES, JSON, ChatAdapter, EmbeddingsAdapter, ImagesAdapter
from core.usage import MICRO

# How each capability is asked of an adapter that declares it.
CALLS: dict[str, Callable[[ChatAdapter, str, JSON], Awaitable[JSON]]] = {
    EMBEDDINGS: lambda adapter, model, body: cast(EmbeddingsAdapter, adapter).embeddings(model, body),
    IMAGES: lambda adapter, model, body: cast(ImagesAdapter, adapter).images(model, body),
}


def passthrough_route(gw: Gateway, path: str, capability: str, model_type: str,
                      check: Callable[[JSON], None], max_bytes: int | None = None) -> Route:
    """`max_bytes`: the endpoint's own body limit, where the gateway's (`max_request_bytes`) is more
    than its requests can need."""
    async def serve(request: Request) -> Response:
        admitted = await gw.admit(request)
        limit = min(gw.settings.max_request_bytes, max_bytes or gw.settings.max_request_bytes)
        body = await parse_json(await read_body(request, limit), load_object)
        require_model(body)
        check(body)
        resolution = gw.resolve(admitted, body["model"])
        require_type(resolution, model_type)
        info = resolution.info or (gw.catalog.info_of(resolution.routes[0]) if resolution.routes else None)
        images = int(body.get("n") or 1) if capability == IMAGES else 0
        if admitted.pays:
            await gw.hold(admitted, resolution, None, images * (info.price_image if info else 0.0) * MICRO)

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            require(adapter, capability)
            return await CALLS[capability](adapter, route.model, body)

        outcome = await gw.first(resolution, attempt)
        gw.bill(admitted.meter, resolution, outcome.route, outcome.value.get("usage"))
        if capability == IMAGES and (info := resolution.info or gw.catalog.info_of(outcome.route)) is not None:
            admitted.meter.cost += len(outcome.value.get("data") or ()) * info.price_image   # per image made
        return json_response(orjson.dumps(outcome.value))

    serve.__name__ = capability
    return Route(path, endpoint(serve), methods=["POST"])
