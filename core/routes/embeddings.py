"""`POST /v1/embeddings`: a string, strings, or token arrays in; vectors out, in input order."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.catalog import Route as ModelRoute
from core.catalog import require_type
from core.checks import load_object, require_model
from core.errors import RequestError
from core.fallback import capability, first_success
from core.gateway import Gateway
from core.http import endpoint, json_response, read_body
from core.types import JSON, ChatAdapter

ENCODINGS = ("float", "base64")


def _check(body: JSON) -> None:
    value: Any = body.get("input")
    valid = (isinstance(value, str) and value != "") or (isinstance(value, list) and value and (
        all(isinstance(v, str) and v != "" for v in value) or all(isinstance(v, int) for v in value)
        or all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value)))
    if not valid:
        raise RequestError("input must be a non-empty string, array of strings, or token arrays",
                           code="invalid_input", param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise RequestError("dimensions must be a positive integer", code="invalid_value", param="dimensions")
    if body.get("encoding_format", "float") not in ENCODINGS:
        raise RequestError("encoding_format must be 'float' or 'base64'", code="invalid_value",
                           param="encoding_format")


def embeddings_routes(gw: Gateway) -> list[Route]:
    async def embeddings(request: Request) -> Response:
        await gw.auth.authenticate(request.headers)
        body = load_object(await read_body(request, gw.settings.max_request_bytes))
        require_model(body)
        _check(body)
        resolution = gw.catalog.resolve(body["model"])
        require_type(resolution, "embedding")

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await capability(adapter, "embeddings")(route.model, body)

        outcome = await first_success(resolution, gw.adapters, attempt)
        return json_response(orjson.dumps(outcome.value))

    return [Route("/v1/embeddings", endpoint(embeddings), methods=["POST"])]
