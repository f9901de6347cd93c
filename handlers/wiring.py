"""The composition root: config, adapters, stores and route groups put together once per process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from mangum import Mangum
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from core.app import build_app
from core.cache import ResponseCache
from core.catalog import Catalog
from core.config import Config, load_config
from core.gateway import Gateway
from core.heap import settle_heap
from core.imports import load
from core.keys import Authenticator
from core.lambda_runtime import StreamingHandler
from core.limits import Admission
from core.routing import Health
from core.secrets import load_provider_keys
from core.storage.dynamo import DynamoDB, DynamoKeyStore
from core.storage.responses import ResponseStore
from core.storage.tables import table_names
from core.usage import UsageRecorder
from providers import build_adapters

RouteGroup = Callable[[Gateway], list[BaseRoute]]


# Every endpoint group, by the name its Lambda function goes by.
GROUPS: dict[str, RouteGroup] = {
    "chat": lambda gw: load("core.routes.chat:chat_routes")(gw),
    "models": lambda gw: load("core.routes.models:models_routes")(gw),
    "completions": lambda gw: load("core.routes.completions:completions_routes")(gw),
    "embeddings": lambda gw: load("core.routes.embeddings:embeddings_routes")(gw),
    "images": lambda gw: load("core.routes.images:images_routes")(gw),
    "messages": lambda gw: load("core.routes.messages:messages_routes")(
        gw, load("providers.anthropic.inbound:MessagesFormat")()),
    "responses": lambda gw: load("core.routes.responses:responses_routes")(
        gw, load("providers.responses:ResponsesFormat")()),
    "stored_responses": lambda gw: load("core.routes.responses:stored_responses_routes")(gw),
    "admin": lambda gw: load("core.routes.admin:admin_routes")(gw, os.environ.get("APEX_ADMIN_KEY")),
    "optimize": lambda gw: load("core.routes.optimize:optimize_routes")(gw),
}


def build_gateway(config: Config, db: DynamoDB | None) -> Gateway:
    """Every part, made once (the optimizer on first use: core.routes.optimize.optimizer_of)."""
    adapters = build_adapters(config)
    keys = DynamoKeyStore(db) if db is not None else None
    admission = Admission(config, db)
    usage = UsageRecorder(db, config.gateway.usage_retention_s) if db is not None else None
    if usage is not None and admission.book is not None:
        usage.listeners.append(admission.book.add)     # quotas see this process's usage at once
    return Gateway(
        config=config,
        catalog=Catalog(config, adapters.keys()),
        adapters=adapters,
        auth=Authenticator(config.keys, keys, config.gateway.key_cache_ttl_s),
        admission=admission,
        keys=keys,
        db=db,
        responses=ResponseStore(db, config.gateway.responses_ttl_s) if db is not None else None,
        usage=usage,
        health=Health(config.gateway.breaker_failures, config.gateway.breaker_window_s,
                      config.gateway.breaker_cooldown_s),
        cache=ResponseCache(db, config.gateway.cache_ttl_s, config.gateway.cache_nondeterministic)
        if db is not None and config.gateway.cache_ttl_s else None,
        started_at=int(time.time()),
    )


def app_for(gw: Gateway, groups: Iterable[str]) -> ASGIApp:
    return build_app(gw, [route for group in groups for route in GROUPS[group](gw)])


def deployed_gateway() -> Gateway:
    """A Lambda function's gateway: config bundled or from APEX_CONFIG, provider keys from the
    environment or the secrets the template names, tables named by the template."""
    config = load_config()
    load_provider_keys(config)
    db = DynamoDB(table_names(), endpoint_url=os.environ.get("APEX_DYNAMODB_ENDPOINT"),
                  region=os.environ.get("AWS_REGION"))
    return build_gateway(config, db)


def lambda_function(groups: list[str], streaming: bool) -> tuple[Gateway, ASGIApp, Any]:
    """A Lambda function's parts, made at cold start: its gateway, its app, and its `handler` — the
    streaming runtime's, which writes usage after the response stream closes and before the next
    poll; or Mangum's, which cannot answer before the app returns, so usage is written just before."""
    gateway = deployed_gateway()
    app = app_for(gateway, groups)
    usage = gateway.usage
    handler: Any
    if streaming:
        handler = StreamingHandler(app, after_invocation=usage.flush if usage is not None else None)
    else:
        handler = Mangum(then_flush(app, usage), lifespan="off")
    settle_heap()
    return gateway, app, handler


def then_flush(app: ASGIApp, usage: UsageRecorder | None) -> Any:
    """The app, followed by a usage flush (a buffered Lambda function's only moment for it)."""
    async def flushed(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if usage is not None:
                await usage.flush()

    return flushed
