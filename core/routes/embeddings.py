"""`POST /v1/embeddings`: a string, strings, or token arrays in; vectors out, in input order."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from core.errors import RequestError
from core.gateway import Gateway
from core.routes.passthrough import passthrough_route
from core.types import EMBEDDINGS, JSON

ENCODINGS = ("float", "base64")
MAX_INPUTS = 2048


def _check(body: JSON) -> None:
    value: Any = body.get("input")
    valid = (isinstance(value, str) and value != "") or (isinstance(value, list) and value and (
        all(isinstance(v, str) and v != "" for v in value) or all(isinstance(v, int) for v in value)
        or all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value)))
    if not valid:
        raise RequestError("input must be a non-empty string, array of strings, or token arrays",
                           code="invalid_input", param="input")
    if isinstance(value, list) and len(value) > MAX_INPUTS and not all(isinstance(v, int) for v in value):
        raise RequestError(f"input: at most {MAX_INPUTS} inputs in one request, as OpenAI allows", code="invalid_input",
                           param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        raise RequestError("dimensions must be a positive integer", code="invalid_value", param="dimensions")
    if body.get("encoding_format", "float") not in ENCODINGS:
        raise RequestError("encoding_format must be 'float' or 'base64'", code="invalid_value",
                           param="encoding_format")


def embeddings_routes(gw: Gateway) -> list[Route]:
    return [passthrough_route(gw, "/v1/embeddings", EMBEDDINGS, "embedding", _check)]
