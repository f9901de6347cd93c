"""`POST /v1/images/generations`: n, size (the ApexApi seed's sizes, and gpt-image's), quality,
response_format url or b64_json."""

from __future__ import annotations

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

SIZES = ("256x256", "512x512", "1024x1024", "1024x1792", "1792x1024", "1536x1024", "1024x1536", "auto")
QUALITIES = ("standard", "hd", "low", "medium", "high", "auto")
FORMATS = ("url", "b64_json")


def _check(body: JSON) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError("prompt is required", code="invalid_prompt", param="prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        raise RequestError("n must be an integer from 1 to 10", code="invalid_value", param="n")
    for field, allowed in (("size", SIZES), ("quality", QUALITIES), ("response_format", FORMATS)):
        if field in body and body[field] not in allowed:
            raise RequestError(f"{field} must be one of {', '.join(allowed)}", code=f"invalid_{field}", param=field)


def images_routes(gw: Gateway) -> list[Route]:
    async def generations(request: Request) -> Response:
        await gw.auth.authenticate(request.headers)
        body = load_object(await read_body(request, gw.settings.max_request_bytes))
        require_model(body)
        _check(body)
        resolution = gw.catalog.resolve(body["model"])
        require_type(resolution, "image")

        async def attempt(adapter: ChatAdapter, route: ModelRoute) -> JSON:
            return await capability(adapter, "images")(route.model, body)

        outcome = await first_success(resolution, gw.adapters, attempt)
        return json_response(orjson.dumps(outcome.value))

    return [Route("/v1/images/generations", endpoint(generations), methods=["POST"])]
