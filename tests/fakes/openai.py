"""A fake OpenAI-compatible upstream speaking the real wire format over HTTP on 127.0.0.1.

Answers are deterministic: "Hello from <name>." (or, when the request offers tools, a call to the
first tool; after a tool result, a sentence quoting it). Streams go out word by word with a role
chunk first, a finish chunk and, when asked, a usage chunk, then `[DONE]`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from typing import Any

from aiohttp import web

from tests.fakes.responses import ResponsesAPI
from tests.fakes.server import FakeServer, Fault, drop, example_of

TOOL_ARGUMENTS = '{"city": "Paris", "unit": "celsius"}'


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


FAULT_RESPONSES = {
    "500": (500, error_body("The server had an error while processing your request.", "server_error", None)),
    "503": (503, error_body("The engine is currently overloaded.", "server_error", None)),
    "429": (429, error_body("Rate limit reached for requests", "requests", "rate_limit_exceeded")),
    "400": (400, error_body("Invalid value for 'temperature'.", "invalid_request_error", "invalid_value",
                            "temperature")),
    "401": (401, error_body("Incorrect API key provided: sk-upstr*****cret.", "invalid_request_error",
                            "invalid_api_key")),
}


def words(text: str) -> int:
    return max(1, len(text.split()))


class FakeOpenAI(FakeServer, ResponsesAPI):
    fault_responses = FAULT_RESPONSES
    bounds = {"n": (1, 128), "max_tokens": (1, 1_000_000), "max_completion_tokens": (1, 1_000_000),
              "dimensions": (1, 3072), "temperature": (0, 2), "top_p": (0, 1)}

    def __init__(self, name: str = "openai") -> None:
        super().__init__(name)
        self.extra_fields: dict[str, Any] = {"system_fingerprint": "fp_fake", "service_tier": "default"}
        self.reply_text: str | None = None
        self.finish_reason: str | None = None     # scripted finish reason for text answers
        self.stream_usage = True                  # False: streams carry no usage, asked or not, as some servers
        self.made: set[str] = set()

    def routes(self, app: web.Application) -> None:
        self.responses_routes(app)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/images/generations", self.images)

    def reset(self) -> None:
        super().reset()
        self.finish_reason = None
        self.reply_text = None
        self.stream_usage = True
        self.made = set()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # -- the answer, decided once per request -------------------------------------------------------
    def _answer(self, body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None, str]:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        offered = [t["function"]["name"] for t in body.get("tools") or ()]
        answering = body.get("tool_choice") != "none" and last.get("role") != "tool"
        if answering and (made := self.tool_call(offered, json.loads(TOOL_ARGUMENTS))) is not None:
            call = {"id": "call_fake_1", "type": "function",
                    "function": {"name": made[0], "arguments": json.dumps(made[1])}}
            return None, [call], "tool_calls"
        if last.get("role") == "tool":
            return f"The tool said: {last.get('content')}", None, "stop"
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":                  # structured output: a valid instance
            return json.dumps(example_of(response_format["json_schema"].get("schema"))), None, "stop"
        return self.reply_text or f"Hello from {self.name}.", None, self.finish_reason or "stop"

    def _usage(self, body: dict[str, Any], text: str | None) -> dict[str, int]:
        prompt = sum(words(str(m.get("content") or "")) for m in body.get("messages") or [])
        completion = words(text or TOOL_ARGUMENTS)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, fault, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        text, calls, finish = self._answer(body)
        if body.get("stream"):
            return await self._stream(request, body, text, calls, finish, fault)
        n = body.get("n") or 1
        message = {"role": "assistant", "content": text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        return web.json_response({
            "id": f"chatcmpl-{self.name}-{len(self.received)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                        for i in range(n)],
            "usage": self._usage(body, text),
            **self.extra_fields,
        })

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body, _, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        text = self.reply_text or f"Completed by {self.name}."
        base = {"id": f"cmpl-{self.name}", "object": "text_completion", "created": int(time.time()),
                "model": body.get("model")}
        if body.get("stream"):
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            for i, word in enumerate(text.split(" ")):
                chunk = {**base, "choices": [{"text": word if i == 0 else " " + word, "index": 0, "logprobs": None,
                                              "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            final = {**base, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]}
            await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
            return response
        choices = [{"text": (p if body.get("echo") else "") + text + (body.get("suffix") or ""), "index": i,
                    "logprobs": None, "finish_reason": "stop"} for i, p in enumerate(prompts)]
        usage = {"prompt_tokens": len(prompts), "completion_tokens": words(text) * len(prompts)}
        return web.json_response({**base, "choices": choices,
                                  "usage": {**usage, "total_tokens": sum(usage.values())}})

    async def embeddings(self, request: web.Request) -> web.Response:
        body, _, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        inputs = body["input"] if isinstance(body["input"], list) and not isinstance(body["input"][0], int) \
            else [body["input"]]
        dimensions = body.get("dimensions") or 8
        data = []
        for i, text in enumerate(inputs):
            values = vector(json.dumps(text), dimensions)
            embedding: Any = values
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        tokens = sum(words(str(t)) for t in inputs)
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def images(self, request: web.Request) -> web.Response:
        body, _, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        image = {"b64_json": base64.b64encode(b"\x89PNG fake").decode()} \
            if body.get("response_format") == "b64_json" else {"url": f"https://images.example/{self.name}.png"}
        return web.json_response({"created": int(time.time()), "data": [
            {**image, "revised_prompt": body["prompt"]} for _ in range(body.get("n") or 1)]})

    async def _stream(self, request: web.Request, body: dict[str, Any], text: str | None,
                      calls: list[dict[str, Any]] | None, finish: str, fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        base = {"id": f"chatcmpl-{self.name}-{len(self.received)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model"), **self.extra_fields}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish_reason}]}

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        if calls:
            call = calls[0]
            events.append(chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                                 "function": {"name": call["function"]["name"], "arguments": ""}}]}))
            args = call["function"]["arguments"]
            events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]})
                       for i in range(0, len(args), 8)]
        else:
            pieces = (text or "").split(" ")
            events += [chunk({"content": p if i == 0 else " " + p}) for i, p in enumerate(pieces)]
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage") and self.stream_usage:
            events.append({**base, "choices": [], "usage": self._usage(body, text)})

        for sent, event in enumerate(events):
            if fault is not None and sent == fault.after_chunks:
                if fault.kind == "drop_after":
                    drop(request)
                if fault.kind == "error_event":
                    error = error_body("The server had an error while streaming.", "server_error", None)
                    await response.write(f"data: {json.dumps(error)}\n\n".encode())
                    return response
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            await self.pause(sent + 1)
        await response.write(b"data: [DONE]\n\n")
        return response


def vector(text: str, dimensions: int) -> list[float]:
    """A deterministic embedding: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest() * (dimensions // 32 + 1)
    return [round(b / 255, 6) for b in digest[:dimensions]]
