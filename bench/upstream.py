"""The benchmark's fake upstream: an OpenAI-compatible `/chat/completions` on asyncio's bare
Protocol API, standard library only, so it is never the bottleneck (about 45,000 rps on one core).

    python bench/upstream.py PORT [CHUNKS] [CHUNK_DELAY_MS]

A request whose body asks for `"stream": true` gets CHUNKS SSE chunks, CHUNK_DELAY_MS apart, as
chunked transfer encoding; any other request gets one canned answer at once: a chat completion, or
by its path an embedding list, images, an Anthropic message (`/v1/messages`) or a response
(`/v1/responses`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! I am doing well, thank you."},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 13, "completion_tokens": 9, "total_tokens": 22},
    "system_fingerprint": "fp_bench",
}).encode()
EMBEDDING = json.dumps({
    "object": "list", "model": "bench", "usage": {"prompt_tokens": 4, "total_tokens": 4},
    "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(2)],
}).encode()
MESSAGE = json.dumps({
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "bench",
    "content": [{"type": "text", "text": "Hello! I am doing well, thank you."}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 13, "output_tokens": 9},
}).encode()
IMAGE = json.dumps({"created": 1700000000, "data": [{"url": "https://images.invalid/bench.png"}]}).encode()
RESPONSE_OBJECT = json.dumps({
    "id": "resp_bench", "object": "response", "created_at": 1700000000, "status": "completed", "model": "bench",
    "output": [{"id": "msg_bench", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello! I am doing well, thank you.", "annotations": []}]}],
    "store": False, "usage": {"input_tokens": 13, "output_tokens": 9, "total_tokens": 22},
}).encode()


def answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)


# By the path's last segment: canned answers of the other endpoints (the cold-start bench calls them).
OTHER = {b"embeddings": answer(EMBEDDING), b"generations": answer(IMAGE), b"messages": answer(MESSAGE),
         b"responses": answer(RESPONSE_OBJECT)}
RESPONSE = answer(COMPLETION)
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
HEALTH = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse(index: int) -> bytes:
    """Chunk `index`; its text carries the wall-clock time it was sent, for per-chunk delays."""
    delta = {"role": "assistant", "content": ""} if index == 0 else {"content": f" w{index}@t{time.time_ns()}"}
    event = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench",
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class Upstream(asyncio.Protocol):
    chunks = 20
    delay_s = 0.01

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.streams: set[asyncio.Task[None]] = set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            if (at := head.find(b"content-length:")) >= 0:
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15:line_end if line_end >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            if head.startswith(b"get"):
                self.transport.write(HEALTH)
            elif b'"stream":true' in body.replace(b" ", b""):
                task = asyncio.ensure_future(self.stream())
                self.streams.add(task)
                task.add_done_callback(self.streams.discard)
            elif b"/chat/completions" in head[:64]:
                self.transport.write(RESPONSE)
            else:
                path = head.split(b" ", 2)[1].rstrip(b"/").rsplit(b"/", 1)[-1]
                self.transport.write(OTHER.get(path, RESPONSE))

    async def stream(self) -> None:
        self.transport.write(STREAM_HEAD)
        for i in range(self.chunks):
            if self.transport.is_closing():
                return
            self.transport.write(chunk(sse(i)))
            await asyncio.sleep(self.delay_s)
        self.transport.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", port, backlog=4096)
    print(f"upstream on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        Upstream.chunks = int(sys.argv[2])
    if len(sys.argv) > 3:
        Upstream.delay_s = float(sys.argv[3]) / 1000
    asyncio.run(main(int(sys.argv[1])))
