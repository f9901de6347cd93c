"""The reference the gateway is measured against: the thinnest useful proxy, a Starlette endpoint
forwarding the body through one pooled client (aiohttp by default, httpx with `--httpx`) to the same
path under UPSTREAM_URL.

    python bench/thin.py PORT UPSTREAM_URL [--httpx]
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

PORT, UPSTREAM, USE_HTTPX = int(sys.argv[1]), sys.argv[2].rstrip("/"), "--httpx" in sys.argv
client = None


async def aiohttp_proxy(request: Request) -> Response:
    global client
    import aiohttp

    client = client or aiohttp.ClientSession()
    body = await request.body()
    upstream = await client.post(f"{UPSTREAM}/{request.path_params['path']}", data=body,
                                 headers={"content-type": "application/json"})
    if b'"stream":true' in body.replace(b" ", b""):
        async def relay():
            async for piece in upstream.content.iter_any():
                yield piece
            upstream.release()
        return StreamingResponse(relay(), media_type="text/event-stream")
    data = await upstream.read()
    return Response(data, status_code=upstream.status, media_type="application/json")


async def httpx_proxy(request: Request) -> Response:
    global client
    import httpx

    client = client or httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1000))
    body = await request.body()
    if b'"stream":true' in body.replace(b" ", b""):
        url = f"{UPSTREAM}/{request.path_params['path']}"
        upstream = await client.send(client.build_request("POST", url, content=body,
                                                          headers={"content-type": "application/json"}), stream=True)
        async def relay():
            async for piece in upstream.aiter_raw():
                yield piece
            await upstream.aclose()
        return StreamingResponse(relay(), media_type="text/event-stream")
    upstream = await client.post(f"{UPSTREAM}/{request.path_params['path']}", content=body,
                                 headers={"content-type": "application/json"})
    return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")


app = Starlette(routes=[Route("/v1/{path:path}", httpx_proxy if USE_HTTPX else aiohttp_proxy, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT, loop="uvloop", http="httptools", log_level="warning",
                access_log=False)
