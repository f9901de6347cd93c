"""The Starlette app of one function (or of `apex serve`): chosen route groups, request ids, and
errors in OpenAI's format even for paths no route knows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import cache

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.errors import GatewayError, RequestError
from core.gateway import Gateway
from core.heap import settle_heap
from core.http import GatewayMiddleware, error_response, json_response

log = logging.getLogger("apex")


async def health(request: Request) -> Response:
    return json_response(b'{"status":"ok"}')


def openapi(gw: Gateway) -> Callable[[Request], Awaitable[Response]]:
    """`/openapi.json`, built on first request (its module is never imported on a cold start)."""
    @cache
    def rendered() -> bytes:
        from core.openapi import document

        return orjson.dumps(document(sorted(gw.catalog.models)))

    async def serve(request: Request) -> Response:
        return json_response(rendered())

    return serve


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    message = f"{request.method} {request.url.path} is not an endpoint of this gateway" \
        if exc.status_code in (404, 405) else str(exc.detail)
    return error_response(RequestError(message, code=code, status=exc.status_code))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(GatewayError("The gateway failed to handle this request"))


# What a browser's script may read of a response, when CORS is on.
EXPOSED_HEADERS = ("x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after",
                   "x-cache")


def with_unprefixed_twins(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """Every `/v1/...` route also answers without the prefix: behind API Gateway's `v1` stage the
    path arrives without it, through a Function URL or `apex serve` with it."""
    routes = list(routes)
    twins = [Route(r.path.removeprefix("/v1"), r.endpoint, methods=r.methods, name=f"{r.name}-unprefixed")
             for r in routes if isinstance(r, Route) and r.path.startswith("/v1/")]
    return [*routes, *twins]


def build_app(gw: Gateway, routes: Iterable[BaseRoute]) -> Starlette:
    """The app; under `apex serve` its lifespan also settles the heap once the storage client exists,
    and flushes usage every second and on the way out."""
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        flusher = None
        if gw.usage is not None and gw.db is not None:
            await gw.db.client()          # boto's large, long-lived objects are made now, to be frozen
            flusher = asyncio.ensure_future(gw.usage.run())
        settle_heap()
        yield
        if flusher is not None:
            flusher.cancel()
        await gw.aclose()

    middleware = [Middleware(GatewayMiddleware, recorder=gw.usage)]
    if origins := gw.settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        middleware.insert(0, Middleware(   # outermost: a preflight is answered before anything else runs
            CORSMiddleware, allow_origins=list(origins), allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"], expose_headers=list(EXPOSED_HEADERS), max_age=600))
    return Starlette(
        routes=[Route("/health", health, methods=["GET"]), *with_unprefixed_twins(
            [Route("/v1/openapi.json", openapi(gw), methods=["GET"]), *routes])],
        middleware=middleware,
        exception_handlers={HTTPException: _http_exception, Exception: _unexpected},
        lifespan=lifespan,
    )
