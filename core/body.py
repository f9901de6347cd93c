"""Reading a request's body: whole, bounded, and straight from ASGI's `receive`."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from core import context
from core.errors import RequestError

# How much of an oversized body is read and thrown away so the client, still sending, can
# receive the 413 (closing on unread data resets the connection and loses the answer).
DRAIN_LIMIT = 64 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 once it is known to exceed `limit` bytes: from
    Content-Length before reading anything, else while the chunks arrive. What follows the limit
    is read and discarded (up to DRAIN_LIMIT), never kept. Read straight from ASGI's `receive`
    (Starlette's stream costs an async generator per request on the hot path)."""
    declared = request.headers.get("content-length")
    receive = request.receive
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise await _refuse(receive, limit, int(declared), more=True)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise await _refuse(receive, limit, None, more)
        if not more:
            if (meter := context.current().meter) is not None:
                meter.request_bytes = size          # what a credit hold estimates the prompt from
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


async def _refuse(receive: Receive, limit: int, declared: int | None, more: bool) -> RequestError:
    drained = 0
    if declared is None or declared <= DRAIN_LIMIT:
        while more and drained <= DRAIN_LIMIT:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
    whole = drained <= DRAIN_LIMIT
    return RequestError(f"Request too large. Maximum size: {limit // (1024 * 1024)}MB",
                        code="request_too_large", status=413, headers=None if whole else {"connection": "close"})


