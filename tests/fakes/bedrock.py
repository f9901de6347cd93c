"""A fake Bedrock runtime on loopback, for aioboto3 with `endpoint_url`: Converse as JSON,
ConverseStream in AWS event-stream framing (real frames, CRCs and all, which botocore checks), and
InvokeModel for Titan and Cohere embeddings; errors as Bedrock sends them (`x-amzn-ErrorType`).

Answers are deterministic like the other fakes: "Hello from <name>.", or a toolUse of the first tool
when the request offers tools and its last turn holds no toolResult.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from aiohttp import web

from tests.fakes.openai import vector
from tests.fakes.server import FakeServer, Fault, drop

TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
FAULTS = {
    "429": (429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "400": (400, "ValidationException", "The provided model identifier is invalid."),
    "500": (500, "InternalServerException", "Internal server error"),
    "503": (503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "401": (403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total and header lengths, CRC), headers, payload, CRC."""
    encoded = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
                       for name, value in headers.items())
    prelude = struct.pack(">II", 16 + len(encoded) + len(payload), len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, data: dict[str, Any]) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(data).encode())


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"})


class FakeBedrock(FakeServer):
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model}/converse", self.converse)
        app.router.add_post("/model/{model}/converse-stream", self.converse_stream)
        app.router.add_post("/model/{model}/invoke", self.invoke)

    def refuse(self, fault: Fault) -> web.Response | None:
        return error_response(*FAULTS[fault.kind]) if fault.kind in FAULTS else None

    def _answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        last = (body.get("messages") or [{}])[-1]
        results = [b["toolResult"] for b in last.get("content", ()) if "toolResult" in b]
        tools = (body.get("toolConfig") or {}).get("tools")
        if tools and not results:
            name = tools[0]["toolSpec"]["name"]
            return [{"toolUse": {"toolUseId": "tooluse_fake_1", "name": name, "input": TOOL_INPUT}}], "tool_use"
        if results:
            return [{"text": f"The tool said: {results[0]['content'][0]['text']}"}], "end_turn"
        return [{"text": f"Hello from {self.name}."}], "end_turn"

    @staticmethod
    def _usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
        prompt = sum(len(json.dumps(m).split()) for m in body.get("messages") or [])
        output = sum(len(json.dumps(b).split()) for b in blocks)
        return {"inputTokens": prompt, "outputTokens": output, "totalTokens": prompt + output}

    async def converse(self, request: web.Request) -> web.Response:
        body, _, failure = await self.begin(request)
        if failure is not None:
            return failure
        blocks, stop = self._answer(body)
        return web.json_response({"output": {"message": {"role": "assistant", "content": blocks}},
                                  "stopReason": stop, "usage": self._usage(body, blocks),
                                  "metrics": {"latencyMs": 12}})

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        body, fault, failure = await self.begin(request)
        if failure is not None:
            return failure
        blocks, stop = self._answer(body)
        events = [event("messageStart", {"role": "assistant"})]
        for index, block in enumerate(blocks):
            if "text" in block:
                words = block["text"].split(" ")
                events += [event("contentBlockDelta", {"contentBlockIndex": index,
                                                       "delta": {"text": w if i == 0 else " " + w}})
                           for i, w in enumerate(words)]
            else:
                tool = block["toolUse"]
                arguments = json.dumps(tool["input"])
                events.append(event("contentBlockStart", {"contentBlockIndex": index, "start": {
                    "toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}}))
                events += [event("contentBlockDelta", {"contentBlockIndex": index,
                                                       "delta": {"toolUse": {"input": arguments[i:i + 8]}}})
                           for i in range(0, len(arguments), 8)]
            events.append(event("contentBlockStop", {"contentBlockIndex": index}))
        events += [event("messageStop", {"stopReason": stop}),
                   event("metadata", {"usage": self._usage(body, blocks), "metrics": {"latencyMs": 12}})]
        response = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        for sent, data in enumerate(events):
            if fault is not None and sent == fault.after_chunks:
                if fault.kind == "drop_after":
                    drop(request)
                if fault.kind == "error_event":
                    await response.write(frame({":exception-type": "modelStreamErrorException",
                                                ":content-type": "application/json", ":message-type": "exception"},
                                               json.dumps({"message": "The model stream failed"}).encode()))
                    return response
            await response.write(data)
            await self.pause(sent + 1)
        return response

    async def invoke(self, request: web.Request) -> web.Response:
        body, _, failure = await self.begin(request)
        if failure is not None:
            return failure
        model = request.match_info["model"]
        if model.startswith("cohere."):
            return web.json_response({"id": "fake", "texts": body["texts"],
                                      "embeddings": [vector(t, 16) for t in body["texts"]]})
        dimensions = body.get("dimensions") or 16
        return web.json_response({"embedding": vector(body["inputText"], dimensions),
                                  "inputTextTokenCount": len(body["inputText"].split())})
