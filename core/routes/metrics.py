"""`GET /metrics`: the gateway's metrics in Prometheus's text format (core.metrics), behind the admin
key when one is set."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import RequestError
from core.gateway import Gateway
from core.http import endpoint
from core.routes.admin import require_admin_key

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_routes(gw: Gateway, admin_key: str | None) -> list[Route]:
    async def metrics(request: Request) -> Response:
        if admin_key:
            require_admin_key(request, admin_key, "/metrics")
        observer = gw.observer
        if observer is None or observer.metrics is None:
            raise RequestError("Metrics are off (apex serve --no-metrics)", code="not_found", status=404)
        return Response(observer.exposition(), media_type=CONTENT_TYPE)

    return [Route("/metrics", endpoint(metrics), methods=["GET"])]
