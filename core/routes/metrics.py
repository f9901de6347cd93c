"""`GET /metrics`: the gateway's metrics in Prometheus's text format (core.metrics), behind the admin
key when one is set."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import AuthError, RequestError
from core.gateway import Gateway
from core.http import endpoint
from core.keys import presented_key

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_routes(gw: Gateway, admin_key: str | None) -> list[Route]:
    async def metrics(request: Request) -> Response:
        if admin_key:
            presented = presented_key(request.headers)
            if presented is None or not hmac.compare_digest(presented.encode(), admin_key.encode()):
                raise AuthError("/metrics needs 'Authorization: Bearer $APEX_ADMIN_KEY'")
        observer = gw.observer
        if observer is None or observer.metrics is None:
            raise RequestError("Metrics are off (apex serve --no-metrics)", code="not_found", status=404)
        return Response(observer.exposition(), media_type=CONTENT_TYPE)

    return [Route("/metrics", endpoint(metrics), methods=["GET"])]
