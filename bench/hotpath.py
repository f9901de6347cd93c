"""The gateway's own cost per chat request: its ASGI app called in-process, the upstream canned.

    python bench/hotpath.py [--requests 20000] [--profile] [--log-format text|json] [--metrics]

`--log-format` writes each request's line (to /dev/null: the formatting is weighed, not a disk);
`--metrics` counts for /metrics; OTEL_EXPORTER_OTLP_ENDPOINT in the environment traces.

No sockets, no server, no upstream: what is left is the gateway's code (key check, input checks,
context bound, routing, fallback loop, `_routing`, the response, the usage record). `run.py` measures
the whole path against peers; this isolates the part we write, to weigh changes to it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import parse_config  # noqa: E402
from core.logs import configure  # noqa: E402
from core.usage import UsageRecorder  # noqa: E402
from handlers.wiring import app_for, build_gateway, observe  # noqa: E402

KEY = "sk-bench-0123456789"
ANSWER = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})
BODY = orjson.dumps({"model": "bench", "messages": [{"role": "user", "content": "hi"}]})
SCOPE = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
         "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
         "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {KEY}".encode()),
                     (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
         "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


class CannedUpstream:
    async def chat(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        return orjson.loads(ANSWER)


def gateway_app(log_format: str | None = None, metrics: bool = False) -> Any:
    config = parse_config({
        "providers": {"up": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"bench": {"context_window": 128000, "routes": [{"provider": "up", "model": "bench"}]}},
        "keys": [{"key": KEY, "plan": "unlimited"}]}, "<bench>")
    gw = build_gateway(config, None)
    gw.usage = UsageRecorder(None)          # type: ignore[arg-type]  # records kept, never flushed
    gw.adapters = {"up": CannedUpstream()}  # type: ignore[dict-item]
    devnull = open(os.devnull, "w")  # noqa: SIM115
    configure(log_format or "text", "info" if log_format else "warning", devnull)
    observe(gw, metrics, log_format=log_format or "text", stream=devnull)
    return app_for(gw, ["chat"])


async def measure(app: Any, requests: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def one() -> None:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(SCOPE), receive, send)
        assert sent[0]["status"] == 200, sent

    for _ in range(500):
        await one()
    started = time.perf_counter()
    for _ in range(requests):
        await one()
    return (time.perf_counter() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--profile", action="store_true", help="and where the time goes (cProfile)")
    parser.add_argument("--log-format", choices=("text", "json"), help="log a line per request, so")
    parser.add_argument("--metrics", action="store_true", help="count for /metrics")
    args = parser.parse_args()
    app = gateway_app(args.log_format, args.metrics)
    print(f"{asyncio.run(measure(app, args.requests)):.1f} µs of gateway code per chat request")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(asyncio.run, measure(app, 5000))
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
