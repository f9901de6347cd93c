"""Lambda's Runtime API, emulated on loopback: what `apex invoke` (and the tests) run a streaming
function against, since `sam local invoke` needs Docker.

It hands out the events it was given on `GET /invocation/next` and records each response the way
Lambda receives it: the HTTP headers of the POST, every chunk with its arrival time, the prelude
before the eight NUL bytes, the body after them, and the trailers; `init/error` and
`invocation/{id}/error` bodies; and when the function asked for work (its first poll marks the end
of its init). It answers as Lambda documents: 202 to a response or error, 400 to a request id it
never handed out, 413 to a buffered response over 6 MB; a client that sends `Expect: 100-continue`
(libcurl, under awslambdaric) is told to go on.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.lambda_runtime import API, DELIMITER

Headers = dict[str, str]
BUFFERED_LIMIT = 6 * 1024 * 1024      # a buffered response's largest payload


@dataclass
class Received:
    """One invocation's outcome, as Lambda would have it."""

    request_id: str
    headers: Headers = field(default_factory=dict)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)   # (monotonic arrival, bytes)
    trailers: Headers = field(default_factory=dict)
    error: dict[str, Any] | None = None                                # from POST .../error
    error_type: str | None = None                                      # its Lambda-Runtime-Function-Error-Type
    done: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)     # set at each chunk, for waiters

    async def first(self, marker: bytes) -> None:
        """Returns once a chunk holding `marker` has arrived."""
        while not any(marker in data for _, data in self.chunks):
            self.arrived.clear()
            await self.arrived.wait()

    @property
    def raw(self) -> bytes:
        return b"".join(data for _, data in self.chunks)

    @property
    def prelude(self) -> dict[str, Any]:
        head, found, _ = self.raw.partition(DELIMITER)
        if not found:
            raise ValueError("no prelude delimiter in the response")
        return dict(orjson.loads(head))

    @property
    def body(self) -> bytes:
        return self.raw.partition(DELIMITER)[2]

    @property
    def stream_error(self) -> dict[str, Any] | None:
        """The decoded error trailers, if the stream failed after its first byte."""
        if "lambda-runtime-function-error-type" not in self.trailers:
            return None
        body = base64.b64decode(self.trailers.get("lambda-runtime-function-error-body", ""))
        return {"type": self.trailers["lambda-runtime-function-error-type"], "body": orjson.loads(body)}


class RuntimeAPIEmulator:
    def __init__(self, events: list[dict[str, Any]], on_chunk: Callable[[bytes], None] | None = None) -> None:
        self._events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.received: dict[str, Received] = {}
        self.order: list[str] = []
        self.init_error: dict[str, Any] | None = None
        self.init_failed = asyncio.Event()
        self.polls: list[float] = []           # monotonic time of each GET next
        self._polled = asyncio.Event()
        self._on_chunk = on_chunk
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        for event in events:
            self.add(event)

    def add(self, event: dict[str, Any]) -> str:
        request_id = str(uuid.uuid4())
        self.received[request_id] = Received(request_id)
        self.order.append(request_id)
        self._events.put_nowait((request_id, event))
        return request_id

    async def polled(self, count: int) -> None:
        """Returns once the function has asked for work `count` times (its init done at the first)."""
        while len(self.polls) < count:
            self._polled.clear()
            await self._polled.wait()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        """Stops listening, and ends the connections still open (a poll waiting for its next event)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            request_line = (await reader.readline()).decode()
            if not request_line:
                return
            method, path, _ = request_line.split(" ", 2)
            headers = await read_headers(reader)
            if headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await self._route(method, path, headers, reader, writer)
            await writer.drain()
        except ConnectionError:
            pass                                  # the function went away mid-request
        except asyncio.CancelledError:
            pass      # stopped while a poll waits: ending quietly (asyncio 3.11 logs a cancelled handler)
        finally:
            writer.close()
            self._connections.discard(task)

    async def _route(self, method: str, path: str, headers: Headers, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if method == "GET" and path == f"{API}/invocation/next":
            self.polls.append(time.monotonic())
            self._polled.set()
            request_id, event = await self._events.get()
            body = orjson.dumps(event)
            deadline = int(time.time() * 1000) + 900_000
            respond(writer, 200, body, {"Lambda-Runtime-Aws-Request-Id": request_id,
                                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                                        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:local"})
            return
        if method == "POST" and path == f"{API}/init/error":
            self.init_error = orjson.loads(await read_body(reader, headers))
            self.init_failed.set()
            respond(writer, 202, b'{"status":"OK"}')
            return
        parts = path.removeprefix(f"{API}/invocation/").split("/")
        received = self.received.get(parts[0]) if len(parts) == 2 and method == "POST" else None
        if received is None or parts[1] not in ("response", "error"):
            await read_body(reader, headers)
            status = 404 if received is None and not path.startswith(f"{API}/invocation/") else 400
            respond(writer, status, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}')
        elif parts[1] == "error":
            received.error = orjson.loads(await read_body(reader, headers))
            received.error_type = headers.get("lambda-runtime-function-error-type")
            received.done.set()
            respond(writer, 202, b'{"status":"OK"}')
        elif await self._response(received, headers, reader):
            respond(writer, 202, b'{"status":"OK"}')
        else:
            respond(writer, 413, b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
                                 b'"errorType":"RequestEntityTooLarge"}')

    async def _response(self, received: Received, headers: Headers, reader: asyncio.StreamReader) -> bool:
        """Reads one response as it arrives; False when a buffered one is over Lambda's limit."""
        received.headers = headers
        if headers.get("transfer-encoding", "").lower() != "chunked":
            data = await read_body(reader, headers)
            if len(data) > BUFFERED_LIMIT:
                received.error = {"errorType": "RequestEntityTooLarge", "errorMessage": f"{len(data)} bytes"}
                received.done.set()
                return False
            received.chunks.append((time.monotonic(), data))
        else:
            while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                received.chunks.append((time.monotonic(), data))
                received.arrived.set()
                if self._on_chunk is not None:
                    self._on_chunk(data)
            received.trailers = await read_headers(reader)
        received.done.set()
        return True


async def read_body(reader: asyncio.StreamReader, headers: Headers) -> bytes:
    length = int(headers.get("content-length", "0"))
    return await reader.readexactly(length) if length else b""


async def read_headers(reader: asyncio.StreamReader) -> Headers:
    headers: Headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def respond(writer: asyncio.StreamWriter, status: int, body: bytes, headers: Headers | None = None) -> None:
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(f"HTTP/1.1 {status} X\r\n{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
