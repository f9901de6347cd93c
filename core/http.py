"""HTTP plumbing every endpoint shares: bounded body reads, request ids, JSON responses and the
rendering of a GatewayError in the endpoint family's own wire format."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
from collections.abc import AsyncGenerator, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import GatewayError, ProviderFailed, RequestError, openai_error_bytes
from core.usage import UsageRecorder

log = logging.getLogger("apex")

ErrorRenderer = Callable[[GatewayError], bytes]
Endpoint = Callable[[Request], Awaitable[Response]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Request ids: a random per-process prefix and a counter; unique without a syscall per request.
_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


class GatewayMiddleware:
    """Around every request: an id (the client's `X-Request-Id` when it is sane) echoed on the
    response, the key's X-RateLimit headers, and — once the response has gone out — the request's
    usage, from the meter the route filled in. Pure ASGI: a BaseHTTPMiddleware costs a task a request."""

    def __init__(self, app: ASGIApp, recorder: UsageRecorder | None = None) -> None:
        self.app = app
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.fullmatch(candidate):
                    request_id = candidate
                break
        if request_id is None:
            request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                meter = state.get("meter")
                if meter is not None:
                    headers += [(k.lower().encode(), v.encode()) for k, v in meter.rate_headers.items()]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            meter = state.get("meter")
            if meter is not None and meter.billable and self.recorder is not None:
                self.recorder.record_meter(meter, state.get(STREAM_STATUS, status))


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


# ASGI trailers (the `http.response.trailers` extension) that tell a server which supports them that
# a stream failed after its first byte; the Lambda runtime turns them into Lambda's error trailers.
ERROR_CODE_TRAILER = "apex-error-code"
ERROR_MESSAGE_TRAILER = "apex-error-message"


# Where a stream that did not end well leaves the status its usage record carries: the error's, or
# CLIENT_GONE when the client left first (nginx's 499; the response itself went out as a 200).
STREAM_STATUS = "stream_status"
CLIENT_GONE = 499


class StreamAborted(Exception):
    """Raised by a stream's body once it has written its in-band error event: the response ends
    there, and the error also travels in the trailers where the server supports them."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


async def guarded(body: AsyncGenerator[bytes, None],
                  render: Callable[[GatewayError], bytes]) -> AsyncGenerator[bytes, None]:
    """A stream body that never ends silently: a failure after the first byte becomes an error event
    in the stream's own format (`render`), then StreamAborted; the source is always closed."""
    try:
        async for chunk in body:
            yield chunk
    except GatewayError as err:
        log.warning("stream broke after its first byte: %s", err.message)
        yield render(err)
        raise StreamAborted(err) from err
    except Exception as exc:
        log.exception("stream failed")
        failed = ProviderFailed("The stream failed inside the gateway")
        yield render(failed)
        raise StreamAborted(failed) from exc
    finally:
        await body.aclose()


class EventStream(Response):
    """A streamed response: each chunk is sent as it is produced, and when the client goes away
    the producer is stopped at once (closing it cancels the upstream request), even while it
    waits on a silent upstream. Leaner than Starlette's StreamingResponse, whose task group costs
    more than the rest of the streaming path."""

    media_type = "text/event-stream"

    def __init__(self, body: AsyncGenerator[bytes, None], headers: dict[str, str] | None = None) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.current_task()
        assert producer is not None
        trailers = "http.response.trailers" in scope.get("extensions", {})
        request_state = scope.setdefault("state", {})
        flags = {"finished": False, "gone": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not flags["finished"]:
                flags["gone"] = True
                request_state[STREAM_STATUS] = CLIENT_GONE
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
                request_state[STREAM_STATUS] = failure.status
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
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return error_response(GatewayError("The gateway failed to handle this request"), render)

    run.__name__ = run.__qualname__ = handler.__name__
    return run

