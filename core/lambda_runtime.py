"""The Lambda streaming runtime: Lambda's Runtime API spoken directly, so an ASGI app can stream.

Python's managed runtime cannot stream a response and Mangum buffers one, so a streaming function
starts this module instead (its `AWS_LAMBDA_EXEC_WRAPPER`, handlers/stream_runtime, calls `main`). It
polls `/runtime/invocation/next`, turns the event into an ASGI request with Mangum's event
inference (API Gateway REST and Function URL events alike), runs the same Starlette app, and
POSTs the response as it is produced: chunked, in Lambda's HTTP-integration format — a JSON
prelude (statusCode, headers, cookies), eight NUL bytes, then the body bytes. A failure after the
first byte goes in the `Lambda-Runtime-Function-Error-Type` / `-Body` trailers. Work the app
leaves for after the response (usage writes) runs before the next poll.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message

from core.http import ERROR_CODE_TRAILER, ERROR_MESSAGE_TRAILER
from core.lambda_events import BadEvent, BufferedHandler, bad_event_result

log = logging.getLogger("apex.runtime")

API = "/2018-06-01/runtime"
DELIMITER = b"\0" * 8
CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
AfterInvocation = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    event: dict[str, Any]
    deadline_ms: int
    function_arn: str
    invocation_id: str | None = None


class Context:
    """What Mangum and the app may read of Lambda's context object."""

    def __init__(self, invocation: Invocation) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class StreamingHandler:
    """A streaming function's `handler`: its app, served by this runtime through the exec wrapper.

    Called the ordinary way (the managed runtime without the wrapper, or a test), it answers
    buffered, so a function deployed without the wrapper still works."""

    def __init__(self, app: ASGIApp, after_invocation: AfterInvocation | None = None) -> None:
        self.app = app
        self.after_invocation = after_invocation
        self._buffered = BufferedHandler(app)
        self.events = self._buffered.events

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._buffered(event, context)


class RuntimeAPI:
    """HTTP/1.1 to the Runtime API at AWS_LAMBDA_RUNTIME_API, one connection per call."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)

    async def _call(self, method: str, path: str, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            writer.write(f"{method} {API}{path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()

    async def next(self) -> Invocation:
        status, headers, body = await self._call("GET", "/invocation/next")
        if status != 200:
            raise RuntimeError(f"Runtime API answered {status} to next")
        return Invocation(
            request_id=headers["lambda-runtime-aws-request-id"], event=orjson.loads(body),
            deadline_ms=int(headers.get("lambda-runtime-deadline-ms", "0")),
            function_arn=headers.get("lambda-runtime-invoked-function-arn", ""),
            invocation_id=headers.get("lambda-runtime-invocation-id"),
        )

    async def invocation_error(self, invocation: Invocation, exc: BaseException) -> None:
        await self._call("POST", f"/invocation/{invocation.request_id}/error", error_body(exc),
                         {"Lambda-Runtime-Function-Error-Type": f"Runtime.{type(exc).__name__}"})

    async def init_error(self, exc: BaseException) -> None:
        await self._call("POST", "/init/error", error_body(exc),
                         {"Lambda-Runtime-Function-Error-Type": f"Runtime.{type(exc).__name__}"})

    async def open_response(self, invocation: Invocation) -> ResponseStream:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        invocation_id = (f"Lambda-Runtime-Invocation-Id: {invocation.invocation_id}\r\n"
                         if invocation.invocation_id else "")
        writer.write(
            f"POST {API}/invocation/{invocation.request_id}/response HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n{invocation_id}"
            f"Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n".encode())
        return ResponseStream(reader, writer)


class ResponseStream:
    """The body of a streamed response, as HTTP/1.1 chunks, flushed one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def write(self, data: bytes) -> None:
        if data:
            self._writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await self._writer.drain()

    async def close(self, error: tuple[str, str] | None = None) -> int:
        """End the body, with the error trailers if the stream failed; the Runtime API's status."""
        trailers = b""
        if error is not None:
            kind, message = error
            body = base64.b64encode(orjson.dumps({"errorType": kind, "errorMessage": message}))
            trailers = (f"Lambda-Runtime-Function-Error-Type: {kind}\r\n".encode()
                        + b"Lambda-Runtime-Function-Error-Body: " + body + b"\r\n")
        self._writer.write(b"0\r\n" + trailers + b"\r\n")
        await self._writer.drain()
        try:
            status, _, _ = await read_response(self._reader)
        finally:
            self._writer.close()
        return status


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    return status, headers, await reader.readexactly(length) if length else b""


def error_body(exc: BaseException) -> bytes:
    return orjson.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__,
                         "stackTrace": traceback.format_exception(exc)})


def prelude(status: int, raw_headers: list[tuple[bytes, bytes]]) -> bytes:
    """Lambda's HTTP-integration prelude: cookies apart, repeated headers joined."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in raw_headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(value)
        else:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return orjson.dumps({"statusCode": status, "headers": headers, "cookies": cookies}) + DELIMITER


async def invoke(handler: StreamingHandler, api: RuntimeAPI, invocation: Invocation) -> None:
    """One invocation: the app's response streamed to the Runtime API as the app produces it."""
    try:
        _, scope, body = handler.events.read(invocation.event, Context(invocation))
    except BadEvent as reason:
        await answer(api, invocation, bad_event_result(reason))
        return
    scope["extensions"] = {**scope.get("extensions", {}), "http.response.trailers": {}}
    finished = asyncio.Event()
    stream: ResponseStream | None = None
    start: dict[str, Any] = {}
    error: tuple[str, str] | None = None
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()    # Lambda tells us nothing of the client: it is there until the end
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal stream, error
        kind = message["type"]
        if kind == "http.response.start":
            start.update(message)
            return
        if stream is None:
            stream = await api.open_response(invocation)
            await stream.write(prelude(start.get("status", 500), start.get("headers", [])))
        if kind == "http.response.body":
            await stream.write(message.get("body", b""))
        elif kind == "http.response.trailers":
            found = {name.decode().lower(): value.decode() for name, value in message.get("headers", ())}
            if ERROR_CODE_TRAILER in found:
                error = (f"Apex.{found[ERROR_CODE_TRAILER]}", found.get(ERROR_MESSAGE_TRAILER, ""))

    try:
        await handler.app(scope, receive, send)
    except Exception as exc:
        log.exception("the app failed")
        if stream is None:
            await api.invocation_error(invocation, exc)
            return
        error = (f"Runtime.{type(exc).__name__}", str(exc))
    finally:
        finished.set()
    if stream is None:       # the app sent nothing at all
        await api.invocation_error(invocation, RuntimeError("the app sent no response"))
        return
    await stream.close(error)


async def answer(api: RuntimeAPI, invocation: Invocation, result: dict[str, Any]) -> None:
    """A whole answer (a proxy-integration result) sent as a one-chunk stream."""
    stream = await api.open_response(invocation)
    headers = [(k.encode(), v.encode()) for k, v in result["headers"].items()]
    await stream.write(prelude(result["statusCode"], headers) + result["body"].encode())
    await stream.close()


async def serve(handler: StreamingHandler, api: RuntimeAPI, invocations: int | None = None) -> None:
    """Poll, invoke, then do the app's post-response work, until stopped (or `invocations` done)."""
    done = 0
    while invocations is None or done < invocations:
        invocation = await api.next()
        try:
            await invoke(handler, api, invocation)
        finally:
            done += 1
            if handler.after_invocation is not None:
                await handler.after_invocation()


def load_handler(spec: str) -> StreamingHandler:
    """`handlers.chat.handler` → that module's StreamingHandler."""
    module_name, _, attribute = spec.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(handler, StreamingHandler):
        raise TypeError(f"{spec} is not a StreamingHandler: buffered functions run on the managed runtime")
    return handler


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    api = RuntimeAPI(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        asyncio.run(api.init_error(exc))
        raise SystemExit(1) from exc
    asyncio.run(serve(handler, api))
