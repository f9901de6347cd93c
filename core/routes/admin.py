"""The admin API: keys (create, list, revoke), usage totals and the request log, behind `APEX_ADMIN_KEY`.

Off — every path 404 — when no admin key is set. The admin key is compared in constant time and is
never a gateway key: it opens these routes only.
"""

from __future__ import annotations

import hmac
import math
import re
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
from core.usage import UsageEvent, latest, summarize, usage_between

GROUPS = ("model", "provider", "day", "key")
LOG_LIMIT, LOG_MAX = 100, 500      # the request log's page: by default, and at most
STATUS = re.compile(r"[1-5]([0-9][0-9]|xx)")      # 429, or a class: 4xx


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


def _range(query: Any) -> tuple[str, str]:
    """`from` and `to`, YYYY-MM-DD (UTC): by default this month up to today."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    first, last = query.get("from") or today[:8] + "01", query.get("to") or today
    for name, day in (("from", first), ("to", last)):
        try:
            time.strptime(day, "%Y-%m-%d")
        except ValueError:
            raise RequestError(f"{name} must be a date, YYYY-MM-DD", code="invalid_value", param=name) from None
    return first, last


def _key(query: Any) -> str | None:
    """The `key` filter: a key id (`key_` and 16 hex digits), never longer than DynamoDB takes in a key."""
    key = query.get("key") or None
    if key is not None and len(key) > 64:
        raise RequestError("key must be a key id, like key_0123456789abcdef", code="invalid_value", param="key")
    return key


def _log_query(query: Any) -> tuple[int, float | None, str | None]:
    """The request log's `limit`, `before` and `status`, checked: each wrong one is a 400 naming it."""
    raw = query.get("limit") or str(LOG_LIMIT)
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= LOG_MAX:
        raise RequestError(f"limit must be an integer from 1 to {LOG_MAX}", code="invalid_value", param="limit")
    before = None
    if query.get("before"):
        try:
            before = float(query["before"])
        except ValueError:
            before = math.nan
        if not math.isfinite(before) or before <= 0:
            raise RequestError("before must be a time in seconds since the epoch: the ts of a page's last item",
                               code="invalid_value", param="before")
    status = (query.get("status") or "").lower() or None
    if status is not None and not STATUS.fullmatch(status):
        raise RequestError("status must be an HTTP status (429) or a class of them (2xx, 4xx, 5xx)",
                           code="invalid_value", param="status")
    return int(raw), before, status


def log_item(event: UsageEvent, key: ApiKey | None) -> dict[str, Any]:
    """A record as the request log shows it, with its key's name and prefix when the key is known."""
    return {"request_id": event.request_id, "ts": event.ts, "key_id": event.key_id,
            "key_name": (key.name or None) if key else None, "key_prefix": key.prefix if key else None,
            "model": event.model, "mapped_model": event.mapped_model, "provider": event.provider,
            "status": event.status, "prompt_tokens": event.prompt_tokens,
            "completion_tokens": event.completion_tokens, "cost": event.cost, "latency_ms": event.latency_ms,
            "cached": event.cached, "attempts": [a._asdict() for a in event.attempts]}


def require_admin_key(request: Request, admin_key: str, what: str = "admin routes") -> None:
    """The request presents the gateway's admin key, compared in constant time; else a 401 saying why.
    `what` names what it guards (the admin API, /metrics)."""
    presented = presented_key(request.headers)
    if presented is None:
        raise AuthError(f"{what[0].upper()}{what[1:]} need 'Authorization: Bearer $APEX_ADMIN_KEY'")
    if not hmac.compare_digest(presented.encode(), admin_key.encode()):
        raise AuthError(f"Wrong admin key: {what} take the gateway's APEX_ADMIN_KEY")


def admin_routes(gw: Gateway, admin_key: str | None) -> list[Route]:
    if not admin_key:
        return dashboard_off_routes()

    def authorize(request: Request) -> KeyStore:
        require_admin_key(request, admin_key)
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
        first, last = _range(query)
        key = _key(query)
        group_by = [g.strip() for g in (query.get("group_by") or "").split(",") if g.strip()]
        if any(g not in GROUPS for g in group_by) or len(set(group_by)) != len(group_by):
            raise RequestError(f"group_by takes one or more of {', '.join(GROUPS)}, comma-separated",
                               code="invalid_value", param="group_by")
        if gw.usage is not None:
            await gw.usage.flush()           # what this process still holds counts too
        events = await usage_between(gw.db, key, first, last)
        return json_response(orjson.dumps({"object": "usage", "from": first, "to": last, "key": query.get("key"),
                                           "group_by": ",".join(group_by) or None, **summarize(events, group_by)}))

    async def requests(request: Request) -> Response:
        """The request log: the range's latest records, newest first, filtered (core.usage.latest);
        `before` pages to older ones. One key's records are read by day, every key's by a scan."""
        store = authorize(request)
        if gw.db is None:
            raise RequestError("No usage table is configured", code="storage_unavailable", status=503)
        query = request.query_params
        first, last = _range(query)
        key = _key(query)
        limit, before, status = _log_query(query)
        if gw.usage is not None:
            await gw.usage.flush()
        events = await usage_between(gw.db, key, first, last)
        page, more = latest(events, limit, before, query.get("model") or None, query.get("provider") or None, status)
        keys = {k.id: k for k in [*gw.auth.static, *await store.list_keys()]}
        return json_response(orjson.dumps({
            "object": "list", "from": first, "to": last, "data": [log_item(e, keys.get(e.key_id)) for e in page],
            "has_more": more, "next_before": page[-1].ts if more else None}))

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
        Route("/v1/admin/requests", endpoint(requests), methods=["GET"]),
        Route("/v1/admin/routes", endpoint(routes), methods=["GET"]),
        Route("/v1/admin/plans", endpoint(plans), methods=["GET"]),
        *dashboard_routes(),
    ]
