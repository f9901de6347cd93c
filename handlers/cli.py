"""The `apex` command line."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any

from core.config import Config, ConfigError, ModelConfig, config_path, load_config
from core.logs import FORMATS, LEVELS

CONFIG_HELP = "the config file (default: APEX_CONFIG, else ./apex.toml if there is one, else built-in defaults)"


def _config(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"apex: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> None:
    from handlers.serve import serve

    config = _config(args.config)
    try:
        source = config_path(args.config)
        serve(config, args.host, args.port, args.forwarded_allow_ips, str(source) if source else None, args.demo,
              args.log_format, args.log_level, args.metrics)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            raise
        print(f"apex: cannot listen on {args.host}:{args.port}: {exc.strerror} (is another apex serve running? "
              "choose another --port)", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_invoke(args: argparse.Namespace) -> None:
    from handlers.invoke import run

    if args.config:
        _config(args.config)      # a bad file stops here, named, before anything starts
    raise SystemExit(run(args.function, args.event, args.config, args.template, args.build))


def _live_routes(url: str) -> list[dict[str, Any]]:
    from handlers.keys_cli import admin_call

    return list(admin_call(url, "GET", "routes")["data"])


def cmd_routes(args: argparse.Namespace) -> None:
    """The model table; with --url, as a running gateway sees it (circuits, observed latency)."""
    rows = [("MODEL", "TYPE", "ROUTES", "PRICE IN/OUT $/1M", "QUALITY", "CONTEXT")]
    if args.url:
        for model in _live_routes(args.url):
            routes = " → ".join(
                f"{r['provider']}/{r['model']} [{r['circuit']}"
                + (f", {r['latency_ms']:.0f} ms" if r.get("latency_ms") is not None else "") + "]"
                for r in model["routes"]) or ("deprecated" if model.get("deprecated") else "-")
            rows.append((model["id"], model["type"], routes,
                         f"{model['pricing']['input']:g}/{model['pricing']['output']:g}", str(model["quality"]),
                         str(model["context_window"] or "-")))
    for name, model in (() if args.url else _config(args.config).models.items()):
        routes = " → ".join(f"{r.provider}/{r.model}" for r in model.routes) or "-"
        if model.deprecated:
            routes = f"deprecated (use {model.replacement})" if model.replacement else "deprecated"
        rows.append((name, model.type, routes, _price(model), str(model.quality), str(model.context_window or "-")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if any(row[3] == UNPRICED for row in rows):
        print(f"\n{UNPRICED}: the config gives no price, so `auto` never picks it by cost and its usage is "
              "counted at $0: give it a price")


UNPRICED = "unknown"


def _price(model: ModelConfig) -> str:
    if model.deprecated:
        return "-"
    if not model.priced:
        return UNPRICED
    if model.type == "image":
        return f"${model.price.image:g}/image"
    return f"{model.price.input:g}/{model.price.output:g}"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="apex", description="Apex Gateway: one API in front of many LLM providers.")
    root.add_argument("--version", action="version", version=f"apex {_version()}")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run every endpoint locally under uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default: %(default)s)")
    serve.add_argument("--config", help=CONFIG_HELP)
    serve.add_argument("--forwarded-allow-ips", default=os.environ.get("APEX_FORWARDED_ALLOW_IPS"),
                       help="proxies (comma-separated IPs, or *) whose X-Forwarded-For names the client; "
                            "default: none, and APEX_FORWARDED_ALLOW_IPS")
    serve.add_argument("--demo", action="store_true", default=os.environ.get("APEX_DEMO") == "1",
                       help="keep the built-in demo provider behind every model even with real providers "
                            "enabled (it is on by itself when none is); default: off, and APEX_DEMO=1")
    serve.add_argument("--log-format", choices=FORMATS, default=os.environ.get("APEX_LOG_FORMAT") or "text",
                       help="text lines, or a JSON object a line; default: %(default)s, and APEX_LOG_FORMAT")
    serve.add_argument("--log-level", choices=LEVELS, default=(os.environ.get("APEX_LOG_LEVEL") or "info").lower(),
                       help="the least a line must matter to be logged; info logs a line per request; "
                            "default: %(default)s, and APEX_LOG_LEVEL")
    serve.add_argument("--metrics", action=argparse.BooleanOptionalAction,
                       default=os.environ.get("APEX_METRICS", "1") != "0",
                       help="count requests and serve them at /metrics, in Prometheus's format (behind "
                            "APEX_ADMIN_KEY when set); default: on, and APEX_METRICS=0 for off")
    serve.set_defaults(run=cmd_serve)

    invoke = commands.add_parser("invoke", help="run one Lambda function of template.yaml on an event, locally")
    invoke.add_argument("function", help="the function's logical id in template.yaml, e.g. ChatFunction")
    invoke.add_argument("-e", "--event", required=True, help="the event, a JSON file (see events/)")
    invoke.add_argument("--config", help=CONFIG_HELP)
    invoke.add_argument("--template", default="template.yaml", help="the SAM template (default: %(default)s)")
    invoke.add_argument("--build", action="store_true",
                        help="run the `sam build` output on Python 3.12, as deployed (else the checkout)")
    invoke.set_defaults(run=cmd_invoke)

    from handlers.keys_cli import add_parser

    add_parser(commands, _config)

    routes = commands.add_parser("routes", help="print the model table")
    routes.add_argument("--config", help=CONFIG_HELP)
    routes.add_argument("--url", help="a running gateway: its live circuits and latency (APEX_ADMIN_KEY)")
    routes.set_defaults(run=cmd_routes)
    return root


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apex-gateway")
    except PackageNotFoundError:      # run from a checkout that is not installed
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:          # `apex routes | head`: the reader left; nothing to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
