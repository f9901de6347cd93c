"""The composition root: config, adapters, stores and route groups put together once per process."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import IO, Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from core.app import build_app
from core.cache import ResponseCache
from core.catalog import Catalog
from core.config import Config, ConfigError, config_path, load_config, with_demo
from core.gateway import Gateway
from core.heap import settle_heap
from core.imports import load
from core.keys import Authenticator, undeployable
from core.lambda_events import BufferedHandler
from core.lambda_runtime import StreamingHandler
from core.limits import Admission
from core.logs import REQUEST_LOGGER, RequestLines, escape_log_messages
from core.logs import configure as configure_logs
from core.metrics import Metrics
from core.observe import Observer, route_circuits, tracing_wanted
from core.routing import Health
from core.secrets import provider_keys
from core.storage.dynamo import DynamoDB
from core.storage.keys import DynamoKeyStore
from core.storage.responses import ResponseStore
from core.storage.tables import table_names
from core.types import InboundFormat
from core.usage import UsageRecorder
from providers import build_adapters

RouteGroup = Callable[[Gateway], list[BaseRoute]]


# The formats clients may speak besides OpenAI's, by their route group; and the header only their
# clients send, by which the shared routes (models) know them.
INBOUND = {"messages": "providers.anthropic.inbound:MessagesFormat"}
SPOKEN_BY_HEADER = {"anthropic-version": INBOUND["messages"]}


def inbound_formats() -> list[InboundFormat]:
    return [load(spec)() for spec in INBOUND.values()]


# Every endpoint group, by the name its Lambda function goes by.
GROUPS: dict[str, RouteGroup] = {
    "chat": lambda gw: load("core.routes.chat:chat_routes")(gw),
    "models": lambda gw: load("core.routes.models:models_routes")(
        gw, {header: cache(lambda spec=spec: load(spec)()) for header, spec in SPOKEN_BY_HEADER.items()}),
    "completions": lambda gw: load("core.routes.completions:completions_routes")(gw),
    "embeddings": lambda gw: load("core.routes.embeddings:embeddings_routes")(gw),
    "images": lambda gw: load("core.routes.images:images_routes")(gw),
    "messages": lambda gw: load("core.routes.messages:messages_routes")(gw, load(INBOUND["messages"])()),
    "responses": lambda gw: load("core.routes.responses:responses_routes")(
        gw, load("providers.responses:ResponsesFormat")()),
    "stored_responses": lambda gw: load("core.routes.responses:stored_responses_routes")(gw),
    "admin": lambda gw: load("core.routes.admin:admin_routes")(gw, load("core.secrets:load_admin_key")()),
    "optimize": lambda gw: load("core.routes.optimize:optimize_routes")(gw),
}


def build_gateway(config: Config, db: DynamoDB | None, keys: Mapping[str, str] | None = None) -> Gateway:
    """Every part, made once (the optimizer on first use: core.routes.optimize.optimizer_of). The
    providers' keys are read here, once (`keys` by provider name, or from the environment and the
    secrets it names), and handed to the adapters."""
    escape_log_messages()
    adapters = build_adapters(config, provider_keys(config) if keys is None else keys)
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


def app_for(gw: Gateway, groups: Iterable[str], extra: Iterable[BaseRoute] = ()) -> ASGIApp:
    return build_app(gw, [*(route for group in groups for route in GROUPS[group](gw)), *extra], inbound_formats)


def deployed_gateway() -> Gateway:
    """A Lambda function's gateway: the config `sam build` shipped (apex.toml, when the checkout had
    one; else the built-in defaults) or APEX_CONFIG's, tables named by the template (provider keys
    from the environment or the secrets it names: build_gateway)."""
    shipped = Path(os.environ.get("LAMBDA_TASK_ROOT", "."), "apex.toml")
    path = config_path(None if os.environ.get("APEX_CONFIG") or not shipped.is_file() else str(shipped))
    config = load_config(str(path) if path else None)
    if os.environ.get("APEX_DEMO") == "1":     # asked for: never on by itself where it is deployed
        config = with_demo(config)
    refuse_published_keys(config, str(path or "<built-in defaults>"))
    db = DynamoDB(table_names(), endpoint_url=os.environ.get("APEX_DYNAMODB_ENDPOINT"),
                  region=os.environ.get("AWS_REGION"))
    return build_gateway(config, db)


def refuse_published_keys(config: Config, source: str) -> None:
    """A deployed function will not start with a static key it cannot have been given on purpose:
    one printed in the gateway's examples, or one short enough to guess."""
    for i, entry in enumerate(config.keys):
        if problem := undeployable(entry.key):
            raise ConfigError(source, f"keys.{i}.key",
                              f"{problem}; a deployed gateway refuses it. Remove it from the config the "
                              "functions ship and create keys with `apex keys create` (stored hashed in "
                              "DynamoDB), or give a static key of 32 or more random characters")


def lambda_function(groups: list[str], streaming: bool) -> tuple[Gateway, ASGIApp, Any]:
    """A Lambda function's parts, made at cold start: its gateway, its app, and its `handler` — the
    streaming runtime's, which writes usage (and sends traces) after the response stream closes and
    before the next poll; or a buffered one, which cannot answer before the app returns, so that is
    done just before. Its logs are JSON lines (APEX_LOG_FORMAT, APEX_LOG_LEVEL), each request's
    carrying its figures as CloudWatch metrics."""
    log_format = os.environ.get("APEX_LOG_FORMAT") or "json"
    configure_logs(log_format, os.environ.get("APEX_LOG_LEVEL") or "info")
    with latin1_messages():
        gateway = deployed_gateway()
        observe(gateway, metrics=False, emf=True, log_format=log_format)
        app = app_for(gateway, groups)
    handler: Any
    if streaming:
        handler = StreamingHandler(app, after_invocation=lambda: invocation_done(gateway))
    else:
        handler = BufferedHandler(then_flush(app, gateway))
    settle_heap()
    return gateway, app, handler


def observe(gw: Gateway, metrics: bool, emf: bool = False, log_format: str = "text",
            stream: IO[str] | None = None) -> None:
    """What reports each request (core.observe): the request line when `apex.request` logs at INFO,
    `metrics` for /metrics, `emf` (Lambda) its figures in that line, and traces when the OTEL_*
    variables name an endpoint (the SDK is imported only then). None of it: no observer at all."""
    tracer = None
    if tracing_wanted():
        from core.tracing import tracer_for

        tracer = tracer_for(gw.config.providers)
    lines = RequestLines(log_format, stream) if logging.getLogger(REQUEST_LOGGER).isEnabledFor(logging.INFO) \
        else None
    if metrics or tracer is not None or lines is not None:
        gw.observer = Observer(frozenset(gw.catalog.models), lines, Metrics() if metrics else None,
                               emf and lines is not None and log_format == "json", tracer,
                               circuits=lambda: route_circuits(gw.catalog, gw.health))


async def invocation_done(gw: Gateway) -> None:
    """What a Lambda function does at the end of each invocation, before it may be frozen: usage
    written, spans sent."""
    if gw.usage is not None:
        await gw.usage.flush()
    if gw.observer is not None:
        await gw.observer.flush()


@contextlib.contextmanager
def latin1_messages() -> Iterator[None]:
    """An exception leaving the cold start keeps its type, its message escaped to Latin-1: the
    runtime interface client posts `init/error` as Latin-1 text, and a message that is not (a
    quoted config value, a path) loses the whole report — Lambda would see only a crash."""
    try:
        yield
    except Exception as exc:
        message = str(exc)
        if message.encode("latin-1", "replace").decode("latin-1") != message:
            exc.args = (message.encode("latin-1", "backslashreplace").decode("latin-1"),)
        raise


def then_flush(app: ASGIApp, gw: Gateway) -> Any:
    """The app, followed by the invocation's end (a buffered Lambda function's only moment for it)."""
    async def flushed(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        finally:
            await invocation_done(gw)

    return flushed
