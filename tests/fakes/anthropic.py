"""A fake Anthropic Messages API over real HTTP on 127.0.0.1, speaking the real format: messages,
the streaming event sequence (message_start, content_block_start, ping, text_delta /
input_json_delta, content_block_stop, message_delta, message_stop), tool_use, count_tokens, and
Anthropic's error bodies — with the same scripted faults as the OpenAI fake.

Answers are deterministic: "Hello from <name>." — or, when the request offers tools and the last
turn holds no tool result, a call to the first tool; after a tool result, a sentence quoting it.
`stop_reason` can be scripted for the next answers.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, Fault, drop, example_of

TOOL_INPUT = {"city": "Paris", "unit": "celsius"}
# With thinking on, every answer opens with this block; its signature must come back byte for byte.
THINKING = {"type": "thinking", "thinking": "The user wants a short answer.",
            "signature": "EqQBCkYIBxgCKkD0+fake/Signature==\u00e9"}


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


FAULT_RESPONSES = {
    "500": (500, error_body("api_error", "Internal server error")),
    "503": (529, error_body("overloaded_error", "Overloaded")),
    "429": (429, error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")),
    "400": (400, error_body("invalid_request_error", "messages.0.content: Input should be a valid list")),
    "401": (401, error_body("authentication_error", "invalid x-api-key")),
}


def words(text: str) -> int:
    return max(1, len(text.split()))


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("text") or b.get("content") or "") for b in content or ())


class FakeAnthropic(FakeServer):
    fault_responses = FAULT_RESPONSES
    bounds = {"max_tokens": (1, 128_000), "temperature": (0, 1), "top_p": (0, 1), "top_k": (1, 1_000_000)}

    def __init__(self, name: str = "anthropic") -> None:
        super().__init__(name)
        self.stop_reason: str | None = None      # scripted stop reason for the next answers
        self.cache_tokens = (0, 0)               # (written, read) the next answers report

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)

    def reset(self) -> None:
        super().reset()
        self.stop_reason = None
        self.cache_tokens = (0, 0)

    def _answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
        last = (body.get("messages") or [{}])[-1]
        content = last.get("content")
        results = [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
        offered = [t["name"] for t in body.get("tools") or ()]
        answering = (body.get("tool_choice") or {}).get("type") != "none" and not results
        if answering and (made := self.tool_call(offered, TOOL_INPUT)) is not None:
            tool, arguments = made
            return [{"type": "tool_use", "id": "toolu_fake_1", "name": tool, "input": arguments}], "tool_use", None
        text = f"The tool said: {text_of(results[0].get('content'))}" if results else f"Hello from {self.name}."
        # `output_format`: the structured-outputs beta's name for it, still served
        output_format = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
        if output_format.get("type") == "json_schema" and not results:      # structured output: a valid instance
            text = json.dumps(example_of(output_format.get("schema")))
        stop = self.stop_reason or "end_turn"
        sequence = (body.get("stop_sequences") or [None])[0] if stop == "stop_sequence" else None
        return [{"type": "text", "text": text}], stop, sequence

    def _usage(self, body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
        prompt = sum(words(text_of(m.get("content"))) for m in body.get("messages") or [])
        output = sum(words(b.get("text") or json.dumps(b.get("input"))) for b in blocks)
        return {"input_tokens": prompt, "output_tokens": output, "cache_creation_input_tokens": self.cache_tokens[0],
                "cache_read_input_tokens": self.cache_tokens[1]}

    async def count_tokens(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        return web.json_response({"input_tokens": sum(words(text_of(m.get("content")))
                                                      for m in body.get("messages") or [])})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body, fault, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        blocks, stop, sequence = self._answer(body)
        if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
            blocks = [dict(THINKING), *blocks]
        message = {"id": f"msg_{self.name}_{len(self.received)}", "type": "message", "role": "assistant",
                   "model": body.get("model"), "content": blocks, "stop_reason": stop, "stop_sequence": sequence,
                   "usage": self._usage(body, blocks)}
        if body.get("stream"):
            return await self._stream(request, message, fault)
        return web.json_response(message)

    def _events(self, message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
                 "usage": {**usage, "output_tokens": 1}}
        events = [("message_start", {"type": "message_start", "message": start})]
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                opening, deltas = {"type": "text", "text": ""}, [
                    {"type": "text_delta", "text": p if i == 0 else " " + p}
                    for i, p in enumerate(block["text"].split(" "))]
            elif block["type"] == "thinking":
                opening = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                          {"type": "signature_delta", "signature": block["signature"]}]
            else:
                arguments = json.dumps(block["input"])
                opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": arguments[i:i + 8]}
                          for i in range(0, len(arguments), 8)]
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": opening}))
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
                       for d in deltas]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
            "usage": {"output_tokens": usage["output_tokens"]}}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    async def _stream(self, request: web.Request, message: dict[str, Any], fault: Fault | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        for sent, (kind, data) in enumerate(self._events(message)):
            if fault is not None and sent == fault.after_chunks:
                if fault.kind == "drop_after":
                    drop(request)
                if fault.kind == "error_event":
                    payload = json.dumps(error_body("overloaded_error", "Overloaded"))
                    await response.write(f"event: error\ndata: {payload}\n\n".encode())
                    return response
            await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
            await self.pause(sent + 1)
        return response
