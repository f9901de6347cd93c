"""`apex serve`: every endpoint in one ASGI app under uvicorn, storage embedded unless told otherwise."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from dataclasses import dataclass

from starlette.types import ASGIApp

from core.config import DEMO, Config, with_demo
from core.gateway import Gateway
from core.keys import new_key
from core.logs import configure as configure_logs
from core.routes.metrics import metrics_routes
from core.secrets import load_admin_key, provider_keys
from core.storage.dynamo import DynamoDB
from core.storage.embedded import EmbeddedProcess
from core.storage.tables import table_names
from handlers.wiring import GROUPS, app_for, build_gateway, observe
from providers import usable

WORKER_NICENESS = 10
DEMO_KEY = "sk-apex-demo"      # the local key while only the demo answers: there is nothing to spend
AWS_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                            "AWS_WEB_IDENTITY_TOKEN_FILE")


@dataclass
class Local:
    """A running local gateway's parts, for `apex serve` and for tests that run it in-process."""

    gateway: Gateway
    app: ASGIApp
    embedded: EmbeddedProcess | None
    generated_key: str | None
    demo: bool = False          # the demo provider is on

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def storage(environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[DynamoDB, EmbeddedProcess | None]:
    """DynamoDB at APEX_DYNAMODB_ENDPOINT, else the AWS account in the environment, else embedded."""
    names = table_names(environ)
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if endpoint := environ.get("APEX_DYNAMODB_ENDPOINT"):
        return DynamoDB(names, endpoint, region), None
    if any(environ.get(v) for v in AWS_CREDENTIAL_VARIABLES):
        return DynamoDB(names, None, region), None
    embedded = EmbeddedProcess(access_key=secrets.token_hex(16))       # this run's own: nobody else's
    return DynamoDB(names, embedded.start(), region, credentials=embedded.credentials), embedded


def local_gateway(config: Config, db: DynamoDB, embedded: EmbeddedProcess | None = None,
                  demo: bool | None = False, metrics: bool = False, log_format: str = "text") -> Local:
    """`demo`: True puts the demo provider behind every model; None does when no provider is usable.
    With no `[[keys]]`, a fresh key to use is made — or, while only the demo answers, `DEMO_KEY`.
    `metrics`: counted, and served at /metrics (behind the admin key when one is set)."""
    keys = provider_keys(config)
    real = usable(config, keys)
    if demo or (demo is None and not real):
        config = with_demo(config)
    gw = build_gateway(config, db, keys)
    generated = None
    if not config.keys:
        generated = new_key() if real else DEMO_KEY
        gw.auth.add_static(generated, plan="unlimited", name="local")
    observe(gw, metrics, log_format=log_format)
    extra = metrics_routes(gw, load_admin_key()) if metrics else ()
    return Local(gw, app_for(gw, GROUPS, extra), embedded, generated, DEMO in gw.adapters)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket: connections wait in its backlog from now on, before uvicorn accepts. Its
    protocol is named, as asyncio sets TCP_NODELAY only on sockets that say they are TCP: without it a
    response's body waits ~40 ms behind its headers for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def banner(config: Config, local: Local, url: str, source: str | None) -> list[str]:
    """What a user starting the gateway needs to know: the config it read, which providers it can reach
    (and for each it cannot, what is missing), how many models that makes, and the dashboard."""
    adapters = local.gateway.adapters
    lines = [f"Config: {source or 'built-in defaults (no apex.toml here, no APEX_CONFIG)'}"]
    enabled = sorted(name for name in adapters if name != DEMO)
    lines.append(f"Providers enabled: {', '.join(enabled) or 'none'}")
    for name, provider in sorted(config.providers.items()):
        if name not in adapters:
            why = f"set {provider.api_key_env}" if provider.api_key_env else f"kind {provider.kind} is not available"
            lines.append(f"  {name}: disabled ({why})")
    reachable = local.gateway.catalog.listed()
    lines.append(f"Models reachable: {len(reachable)} of {len(config.models)}")
    lines.append(f"Dashboard: {url}/dashboard" if os.environ.get("APEX_ADMIN_KEY")
                 else "Dashboard: off (set APEX_ADMIN_KEY to turn it and the admin API on)")
    if local.demo and enabled:
        lines.append("Demo provider: on, behind every model's routes (--demo)")
    if not enabled:
        lines.append("Warning: no provider is enabled: set a provider's key (see above) for real answers"
                     if local.demo else "Warning: no provider is enabled, so no model answers: set a provider's "
                     "key (see above)")
    for name, provider in sorted(config.providers.items()):
        if provider.kind == "openai" and not provider.base_url and name in adapters:
            lines.append(f"Warning: provider {name} has no base_url: it sends to OpenAI's own API")
    return lines


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000, forwarded_allow_ips: str | None = None,
          source: str | None = None, demo: bool = False, log_format: str = "text", log_level: str = "info",
          metrics: bool = True) -> None:
    """`demo`: the demo provider behind every model even when real providers are enabled (it is on
    by itself when none is). `log_format`, `log_level`: how lines are logged (a line per request at
    info). `metrics`: /metrics. `forwarded_allow_ips`: the proxies whose X-Forwarded-For names the
    client (its IP is what `ip_rpm` counts); by default none, so a client cannot name itself anyone.
    `source`: the config file read, for the banner."""
    import uvicorn

    configure_logs(log_format, log_level)
    sock = bind(host, port)
    db, embedded = storage()
    local = local_gateway(config, db, embedded, True if demo else None, metrics, log_format)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"Apex Gateway on http://{shown}:{bound_port}/v1", flush=True)
    if embedded is not None:
        print(f"Storage: embedded DynamoDB at {embedded.url} (in memory, in a child process)", flush=True)
        from handlers.local_state import publish

        local.gateway.closers.append(publish(f"http://{shown}:{bound_port}", embedded.url, embedded.credentials))
    if local.generated_key == DEMO_KEY:
        print("Demo mode: no provider key is set, so the built-in demo provider answers every model "
              f"(its answers say so). Use the key {DEMO_KEY}", flush=True)
    elif local.generated_key:
        print(f"No key configured; use this local key: {local.generated_key}", flush=True)
    for line in banner(config, local, f"http://{shown}:{bound_port}", source):
        print(line, flush=True)
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import core.optimizer

    # The optimizer's rules in processes of their own (started on first use), below this one in the
    # scheduler's eyes: prompts made to be slow keep the workers busy, never the server.
    workers = core.optimizer.WORKERS = ProcessPoolExecutor(
        core.optimizer.CONCURRENT, mp_context=get_context("spawn"), initializer=os.nice, initargs=(WORKER_NICENESS,))
    local.gateway.closers.append(lambda: workers.shutdown(cancel_futures=True))    # at lifespan shutdown
    server = uvicorn.Server(uvicorn.Config(
        local.app, loop="uvloop", http="httptools", lifespan="on", access_log=False, log_level="warning",
        timeout_graceful_shutdown=5, proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
    ))
    try:
        server.run(sockets=[sock])
    finally:
        local.close()
        sys.stdout.flush()
