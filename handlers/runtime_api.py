"""Lambda's Runtime API, emulated on loopback: what `apex invoke` (and the tests) run a streaming
function against, since `sam local invoke` needs Docker.

It hands out the events it was given on `GET /invocation/next` and records each response the way
Lambda receives it: the HTTP headers of the POST, every chunk with its arrival time, the prelude
before the eight NUL bytes, the body after them, and the trailers.
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


@dataclass
class Received:
    """One invocation's outcome, as Lambda would have it."""

    request_id: str
    headers: Headers = field(default_factory=dict)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)   # (monotonic arrival, bytes)
    trailers: Headers = field(default_factory=dict)
    error: dict[str, Any] | None = None                                # from POST .../error
    done: asyncio.Event = field(default_factory=asyncio.Event)

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
        self._on_chunk = on_chunk
        self._server: asyncio.Server | None = None
        for event in events:
            self.add(event)

    def add(self, event: dict[str, Any]) -> str:
        request_id = str(uuid.uuid4())
        self.received[request_id] = Received(request_id)
        self.order.append(request_id)
        self._events.put_nowait((request_id, event))
        return request_id

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode()
            method, path, _ = request_line.split(" ", 2)
            headers = await read_headers(reader)
            if method == "GET" and path == f"{API}/invocation/next":
                request_id, event = await self._events.get()
                body = orjson.dumps(event)
                deadline = int(time.time() * 1000) + 900_000
                respond(writer, 200, body, {"Lambda-Runtime-Aws-Request-Id": request_id,
                                            "Lambda-Runtime-Deadline-Ms": str(deadline),
                                            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:local"})
            elif method == "POST" and path.endswith("/response"):
                await self._response(path.split("/")[-2], headers, reader)
                respond(writer, 202, b'{"status":"OK"}')
            elif method == "POST" and path.endswith("/error"):
                error = orjson.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
                if path == f"{API}/init/error":
                    self.init_error = error
                else:
                    received = self.received[path.split("/")[-2]]
                    received.error = error
                    received.done.set()
                respond(writer, 202, b'{"status":"OK"}')
            else:
                respond(writer, 404, b'{"errorMessage":"unknown path"}')
            await writer.drain()
        finally:
            writer.close()

    async def _response(self, request_id: str, headers: Headers, reader: asyncio.StreamReader) -> None:
        received = self.received[request_id]
        received.headers = headers
        if headers.get("transfer-encoding", "").lower() != "chunked":
            data = await reader.readexactly(int(headers.get("content-length", "0")))
            received.chunks.append((time.monotonic(), data))
        else:
            while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
                data = await reader.readexactly(size)
                await reader.readexactly(2)
                received.chunks.append((time.monotonic(), data))
                if self._on_chunk is not None:
                    self._on_chunk(data)
            received.trailers = await read_headers(reader)
        received.done.set()


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
