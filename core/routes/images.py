"""`POST /v1/images/generations`: n, size (the ApexApi seed's sizes, and gpt-image's), quality,
response_format url or b64_json."""

from __future__ import annotations

from starlette.routing import Route

from core.errors import RequestError
from core.gateway import Gateway
from core.routes.passthrough import passthrough_route
from core.types import IMAGES, JSON

SIZES = ("256x256", "512x512", "1024x1024", "1024x1792", "1792x1024", "1536x1024", "1024x1536", "auto")
QUALITIES = ("standard", "hd", "low", "medium", "high", "auto")
FORMATS = ("url", "b64_json")
MAX_BYTES = 256 * 1024       # a prompt and a few settings: OpenAI takes prompts of 32,000 characters at most


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
    return [passthrough_route(gw, "/v1/images/generations", IMAGES, "image", _check, MAX_BYTES)]
