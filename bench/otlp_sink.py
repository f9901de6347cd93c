"""A stand-in OpenTelemetry collector for benchmarks: accepts OTLP/HTTP exports on loopback and
counts them, so traced runs pay the real export cost without a collector installed.

    python bench/otlp_sink.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

received = {"exports": 0, "bytes": 0}


async def export(request: web.Request) -> web.Response:
    received["exports"] += 1
    received["bytes"] += len(await request.read())
    return web.Response(status=200, content_type="application/x-protobuf", body=b"")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(received)


def main() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=lambda *_: print("ready", flush=True))


if __name__ == "__main__":
    main()
