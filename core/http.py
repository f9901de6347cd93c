"""HTTP answers every endpoint shares: JSON bodies, event streams that stop when the client leaves,
and a GatewayError rendered in the endpoint family's own wire format."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from core import context
from core.context import CLIENT_GONE
from core.errors import GatewayError, RequestError, openai_error_bytes

log = logging.getLogger("apex")

ErrorRenderer = Callable[[GatewayError], bytes]
Endpoint = Callable[[Request], Awaitable[Response]]


# ASGI trailers (the `http.response.trailers` extension) that tell a server which supports them that
# a stream failed after its first byte; the Lambda runtime turns them into Lambda's error trailers.
ERROR_CODE_TRAILER = "apex-error-code"
ERROR_MESSAGE_TRAILER = "apex-error-message"


class StreamAborted(Exception):
    """Raised by a stream's body once it has written its in-band error event: the response ends
    there, and the error also travels in the trailers where the server supports them."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


class Body(Protocol):
    """What an EventStream sends: chunks as they are made; closing it stops the producer."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class EventStream(Response):
    """A streamed response: each chunk is sent as it is produced, and when the client goes away
    the producer is stopped at once (closing it cancels the upstream request), even while it
    waits on a silent upstream. Leaner than Starlette's StreamingResponse, whose task group costs
    more than the rest of the streaming path."""

    media_type = "text/event-stream"

    def __init__(self, body: Body, headers: dict[str, str] | None = None) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.current_task()
        assert producer is not None
        trailers = "http.response.trailers" in scope.get("extensions", {})
        request = context.current()
        request.streamed = True
        flags = {"finished": False, "gone": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not flags["finished"]:
                flags["gone"] = True
                request.stream_status = CLIENT_GONE
                producer.cancel()

        watcher = asyncio.ensure_future(watch())
        failure: GatewayError | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers,
                        "trailers": trailers})
            try:
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except StreamAborted as aborted:
                failure = aborted.error
                request.stream_status = failure.status
            flags["finished"] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            if trailers:
                failed = [(ERROR_CODE_TRAILER.encode(), failure.code.encode()),
                          (ERROR_MESSAGE_TRAILER.encode(), failure.message.encode())] if failure else []
                await send({"type": "http.response.trailers", "headers": failed, "more_trailers": False})
        except asyncio.CancelledError:
            if not flags["gone"]:
                raise
            producer.uncancel()
        finally:
            flags["finished"] = True
            watcher.cancel()
            await self.body_iterator.aclose()


class JSONBody(Response):
    """A JSON answer whose headers are made directly: Starlette's Response goes through a header
    parser on every construction, and this is every buffered answer's path."""

    media_type = "application/json"

    def __init__(self, payload: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.body = payload
        self.background = None
        self.raw_headers = [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]
        if headers:
            self.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


# A bug of ours, as the client sees it: a 500 it cannot fix (the log has the rest).
INTERNAL_ERROR = GatewayError("The gateway failed to handle this request", code="internal_error")
# No endpoint speaks WebSocket. 426 is the answer Codex falls back to HTTPS from at once (it retries
# any other for seconds).
WEBSOCKET_REFUSED = RequestError("This gateway serves HTTPS only, no WebSocket transport: the Responses API is "
                                 "POST /v1/responses.", code="websocket_not_supported", status=426)


def json_response(payload: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONBody(payload, status, headers)


def error_response(err: GatewayError, render: ErrorRenderer = openai_error_bytes) -> Response:
    if err.status >= 500:
        log.warning("%s %s: %s", err.status, err.code, err.message)
    return json_response(render(err), err.status, err.headers)


def endpoint(handler: Endpoint, render: ErrorRenderer = openai_error_bytes) -> Endpoint:
    """An endpoint whose GatewayErrors come out in `render`'s wire format."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except GatewayError as err:
            return error_response(err, render)
        except Exception:
            log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path,
                          context.current().request_id)
            return error_response(INTERNAL_ERROR, render)

    run.__name__ = run.__qualname__ = handler.__name__
    return run

