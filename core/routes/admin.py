"""The admin API: keys (create, list, revoke) and usage totals, behind `APEX_ADMIN_KEY`.

Off — every path 404 — when no admin key is set. The admin key is compared in constant time and is
never a gateway key: it opens these routes only.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.body import read_body
from core.checks import load_object
from core.errors import AuthError, RequestError, shown
from core.gateway import Gateway
from core.http import endpoint, json_response
from core.keys import ApiKey, KeyStore, create_key, presented_key
from core.routes.dashboard import dashboard_off_routes, dashboard_routes
from core.usage import summarize, usage_between

GROUPS = ("model", "provider", "day", "key")


def key_view(key: ApiKey, static: bool = False) -> dict[str, Any]:
    """A key as the admin API shows it: never the key, only its prefix. `static`: from the config."""
    return {"id": key.id, "prefix": key.prefix, "name": key.name, "plan": key.plan, "rpm": key.rpm,
            "monthly_tokens": key.monthly_tokens, "credits": key.credits,
            "models": list(key.models) if key.models is not None else None, "created_at": key.created_at,
            "status": "revoked" if key.revoked else "active", "static": static}


def _optional(body: dict[str, Any], field: str, whole: bool) -> Any:
    """A non-negative number, or None; `whole` asks for an integer."""
    value: Any = body.get(field)
    if value is None:
        return None
    number = isinstance(value, int) if whole else isinstance(value, int | float)
    if isinstance(value, bool) or not number or value < 0:
        raise RequestError(f"{field} must be a non-negative {'integer' if whole else 'number'}",
                           code="invalid_value", param=field)
    return value


def admin_routes(gw: Gateway, admin_key: str | None) -> list[Route]:
    if not admin_key:
        return dashboard_off_routes()

    def authorize(request: Request) -> KeyStore:
        presented = presented_key(request.headers)
        if presented is None:
            raise AuthError("Admin routes need 'Authorization: Bearer $APEX_ADMIN_KEY'")
        if not hmac.compare_digest(presented.encode(), admin_key.encode()):
            raise AuthError("Wrong admin key: admin routes take the gateway's APEX_ADMIN_KEY")
        if gw.keys is None:
            raise RequestError("No keys table is configured", code="storage_unavailable", status=503)
        return gw.keys

    async def create(request: Request) -> Response:
        store = authorize(request)
        body = load_object(await read_body(request, 64 * 1024))
        plan = body.get("plan")
        if not isinstance(plan, str) or plan not in gw.config.plans:
            raise RequestError(f"plan must be one of {', '.join(sorted(gw.config.plans))}", code="invalid_plan",
                               param="plan")
        models = body.get("models")
        if models is not None and (not isinstance(models, list) or not all(isinstance(m, str) for m in models)):
            raise RequestError("models must be an array of model names", code="invalid_value", param="models")
        key, record = await create_key(
            store, plan, name=str(body.get("name") or ""), rpm=_optional(body, "rpm", True),
            monthly_tokens=_optional(body, "monthly_tokens", True), credits=_optional(body, "credits", False),
            models=tuple(models) if models is not None else None)
        return json_response(orjson.dumps({**key_view(record), "key": key}), status=201)

    async def listing(request: Request) -> Response:
        """Every key, the config's static ones first (`static`: true); with `?usage=1`, each with its
        tokens this month and its spend (for quota bars)."""
        store = authorize(request)
        static = gw.auth.static
        records = [*static, *await store.list_keys()]
        keys = [key_view(k, static=i < len(static)) for i, k in enumerate(records)]
        book = gw.admission.book
        if request.query_params.get("usage") and book is not None:
            if gw.usage is not None:
                await gw.usage.flush()
            book.forget()
            now = time.time()
            for key, record in zip(keys, records, strict=True):
                tokens, spent = await book.totals(record.id, now)
                limits = gw.admission.limits(record)
                key["usage"] = {"month_tokens": tokens, "spent": round(spent, 6),
                                "monthly_tokens_limit": limits.monthly_tokens or None, "credits": limits.credits}
        return json_response(orjson.dumps({"object": "list", "data": keys}))

    async def revoke(request: Request) -> Response:
        store = authorize(request)
        key_id = request.path_params["key_id"]
        if any(k.id == key_id for k in gw.auth.static):
            raise RequestError(f"'{shown(key_id)}' is a static key: it is in the config's [[keys]]; remove it there",
                               code="static_key")
        if not await store.revoke_key(key_id):
            raise RequestError(f"No key with id '{shown(key_id)}'", code="not_found", status=404)
        gw.auth.forget()     # this process sees it at once; others within key_cache_ttl_s
        return json_response(orjson.dumps({"id": key_id, "status": "revoked"}))

    async def usage(request: Request) -> Response:
        authorize(request)
        if gw.db is None:
            raise RequestError("No usage table is configured", code="storage_unavailable", status=503)
        query = request.query_params
        today = time.strftime("%Y-%m-%d", time.gmtime())
        first, last = query.get("from") or today[:8] + "01", query.get("to") or today
        for name, day in (("from", first), ("to", last)):
            try:
                time.strptime(day, "%Y-%m-%d")
            except ValueError:
                raise RequestError(f"{name} must be a date, YYYY-MM-DD", code="invalid_value", param=name) from None
        group_by = [g.strip() for g in (query.get("group_by") or "").split(",") if g.strip()]
        if any(g not in GROUPS for g in group_by) or len(set(group_by)) != len(group_by):
            raise RequestError(f"group_by takes one or more of {', '.join(GROUPS)}, comma-separated",
                               code="invalid_value", param="group_by")
        if gw.usage is not None:
            await gw.usage.flush()           # what this process still holds counts too
        events = await usage_between(gw.db, query.get("key") or None, first, last)
        return json_response(orjson.dumps({"object": "usage", "from": first, "to": last, "key": query.get("key"),
                                           "group_by": ",".join(group_by) or None, **summarize(events, group_by)}))

    async def routes(request: Request) -> Response:
        """The model table as this process sees it: each route with its circuit and observed speed."""
        authorize(request)
        models = []
        for info in gw.catalog.models.values():
            routes = [{"provider": r.provider, "model": r.model, "available": r in gw.catalog.routes_of(info),
                       **(gw.health.snapshot(r) if gw.health else {})} for r in info.routes]
            models.append({"id": info.id, "type": info.type, "context_window": info.context_window,
                           "pricing": {"input": info.price_in, "output": info.price_out}, "quality": info.quality,
                           "supports": list(info.supports), "deprecated": info.deprecated,
                           "replacement": info.replacement, "routes": routes})
        return json_response(orjson.dumps({"object": "list", "data": models}))

    async def plans(request: Request) -> Response:
        authorize(request)
        data = [{"name": name, "rpm": plan.rpm, "monthly_tokens": plan.monthly_tokens, "credits": plan.credits,
                 "models": plan.models} for name, plan in sorted(gw.config.plans.items())]
        return json_response(orjson.dumps({"object": "list", "data": data}))

    return [   # under /v1 too (the API's stage), like every route; see core.app
        Route("/v1/admin/keys", endpoint(create), methods=["POST"]),
        Route("/v1/admin/keys", endpoint(listing), methods=["GET"]),
        Route("/v1/admin/keys/{key_id}", endpoint(revoke), methods=["DELETE"]),
        Route("/v1/admin/usage", endpoint(usage), methods=["GET"]),
        Route("/v1/admin/routes", endpoint(routes), methods=["GET"]),
        Route("/v1/admin/plans", endpoint(plans), methods=["GET"]),
        *dashboard_routes(),
    ]
