"""The ASGI app of one function (or of `apex serve`): chosen route groups, request ids, and errors
in OpenAI's format even for paths no route knows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import cache

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import RequestError
from core.gateway import Gateway
from core.heap import settle_heap
from core.http import INTERNAL_ERROR, WEBSOCKET_REFUSED, Endpoint, error_response, json_response
from core.middleware import GatewayMiddleware
from core.types import InboundFormat

log = logging.getLogger("apex")


async def health(request: Request) -> Response:
    return json_response(b'{"status":"ok"}')


def openapi(gw: Gateway, formats: Callable[[], Iterable[InboundFormat]]) -> Callable[[Request], Awaitable[Response]]:
    """`/openapi.json`, built on first request (its module is never imported on a cold start), with
    what every inbound format adds — whichever function serves it."""
    @cache
    def rendered() -> bytes:
        from core.openapi import document

        return orjson.dumps(document(sorted(gw.catalog.models), [f.openapi() for f in formats()]))

    async def serve(request: Request) -> Response:
        return json_response(rendered())

    return serve


# What a browser's script may read of a response, when CORS is on.
EXPOSED_HEADERS = ("x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after",
                   "x-cache", "x-apex-cost")


def with_unprefixed_twins(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """Every `/v1/...` route also answers without the prefix: behind API Gateway's `v1` stage the
    path arrives without it, through a Function URL or `apex serve` with it."""
    routes = list(routes)
    twins = [Route(r.path.removeprefix("/v1"), r.endpoint, methods=r.methods, name=f"{r.name}-unprefixed")
             for r in routes if isinstance(r, Route) and r.path.startswith("/v1/")]
    return [*routes, *twins]


class App:
    """The ASGI app of one function: a route found by its path (a dict lookup for fixed paths, the
    patterns of the few with parameters after), its endpoint called with the Request, and the
    lifespan. It replaces Starlette's application stack — error middleware, exception middleware,
    router and per-route wrappers, each a layer of coroutines and `send` wrappers on every request —
    because every endpoint here already renders its own errors (`core.http.endpoint`)."""

    def __init__(self, routes: list[Route], lifespan: Callable[[], contextlib.AbstractAsyncContextManager[None]]
                 ) -> None:
        self.routes = routes
        self._lifespan = lifespan
        self._fixed: dict[str, dict[str, Endpoint]] = {}        # path → method → endpoint
        self._patterns: dict[str, tuple[Route, dict[str, Endpoint]]] = {}   # the same, for paths with parameters
        # How logs and metrics name each route's endpoint: its path, `/v1/` form, parameters unfilled.
        self._labels = {route.path: f"/v1{route.path}" if (route.name or "").endswith("-unprefixed") else route.path
                        for route in routes}
        for route in routes:
            if route.param_convertors:
                methods = self._patterns.setdefault(route.path, (route, {}))[1]
            else:
                methods = self._fixed.setdefault(route.path, {})
            methods.update((method, route.endpoint) for method in route.methods or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, send)
            return
        path, method = scope["path"], scope["method"]
        methods = self._fixed.get(path)
        if methods is not None:
            scope["apex.endpoint"] = self._labels[path]
        else:
            for route, by_method in self._patterns.values():
                if matched := route.path_regex.match(path):
                    scope["path_params"] = {name: route.param_convertors[name].convert(value)
                                            for name, value in matched.groupdict().items()}
                    scope["apex.endpoint"] = self._labels[route.path]
                    methods = by_method
                    break
        request = Request(scope, receive)
        handler = methods.get(method) if methods else None
        if handler is not None:
            try:
                response = await handler(request)
            except Exception:        # endpoints render their own errors; this is for the few plain ones
                log.exception("unhandled error on %s %s", method, path)
                response = error_response(INTERNAL_ERROR)
        else:
            status, code = (405, "method_not_allowed") if methods else (404, "not_found")
            response = error_response(RequestError(f"{method} {path} is not an endpoint of this gateway",
                                                   code=code, status=status))
        await response(scope, receive, send)

    @staticmethod
    async def _refuse_websocket(scope: Scope, send: Send) -> None:
        """No endpoint speaks WebSocket: an upgrade is answered 426 before the handshake (Codex, probing
        for the Responses WebSocket transport, then falls back to HTTPS at once), or closed where the
        server cannot send an HTTP answer."""
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})
            return
        response = error_response(WEBSOCKET_REFUSED)
        await send({"type": "websocket.http.response.start", "status": response.status_code,
                    "headers": response.raw_headers})
        await send({"type": "websocket.http.response.body", "body": response.body})

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()                                   # lifespan.startup
        context = self._lifespan()
        try:
            await context.__aenter__()
        except Exception as exc:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()                                   # lifespan.shutdown
        await context.__aexit__(None, None, None)
        await send({"type": "lifespan.shutdown.complete"})


def build_app(gw: Gateway, routes: Iterable[BaseRoute],
              formats: Callable[[], Iterable[InboundFormat]] = tuple) -> ASGIApp:
    """The app, inside the gateway's middleware (and CORS when configured); under `apex serve` its
    lifespan also settles the heap once the storage client exists, and flushes usage every second
    and on the way out."""
    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        flusher = None
        if gw.usage is not None and gw.db is not None:
            await gw.db.client()          # the storage session is made now, to be frozen with the rest
            flusher = asyncio.ensure_future(gw.usage.run())
        settle_heap()
        yield
        if flusher is not None:
            flusher.cancel()
        await gw.aclose()

    every = [Route("/health", health, methods=["GET"]),
             *with_unprefixed_twins([Route("/v1/openapi.json", openapi(gw, formats), methods=["GET"]), *routes])]
    app: ASGIApp = GatewayMiddleware(App([r for r in every if isinstance(r, Route)], lifespan), recorder=gw.usage,
                                      observer=gw.observer, expose_cost=gw.settings.expose_cost)
    if origins := gw.settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app = CORSMiddleware(   # outermost: a preflight is answered before anything else runs
            app, allow_origins=list(origins), allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"],
            expose_headers=list(EXPOSED_HEADERS), max_age=600)
    return app
