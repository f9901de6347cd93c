"""OpenAI's Responses API, as the OpenAI fake serves it (`POST /v1/responses`, buffered or streamed,
`/v1/responses/input_tokens`, `/v1/responses/compact`), strict where OpenAI is: a reasoning item
without its `encrypted_content`, or an item reference, naming an item it did not store is refused
(`Items are not persisted when store is set to false`), and so is a `previous_response_id` it never
stored."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.anthropic import TOOL_INPUT
from tests.fakes.server import Fault, drop, example_of

REASONING_CONTENT = "enc-fake-reasoning"


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                        "code": None}}, status=status)


def _words(value: Any) -> int:
    return len(json.dumps(value).split())


class ResponsesAPI:
    """Mixed into the OpenAI fake, which supplies the recording, faults, names and scripted tools."""

    name: str
    made: set[str]                     # the ids of responses and items it stored
    if TYPE_CHECKING:
        async def begin(self, request: web.Request) -> tuple[Any, Fault | None, web.Response | None]: ...

        async def pause(self, sent: int) -> None: ...

        def tool_call(self, offered: list[str], default: dict[str, Any]) -> tuple[str, dict[str, Any]] | None: ...

    def responses_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/responses", self.responses)
        app.router.add_post("/v1/responses/input_tokens", self.input_tokens)
        app.router.add_post("/v1/responses/compact", self.compact)

    def _refusal(self, body: dict[str, Any]) -> web.Response | None:
        if body.get("previous_response_id") and body["previous_response_id"] not in self.made:
            return _error(404, f"Previous response with id '{body['previous_response_id']}' not found.",
                          "previous_response_id")
        for item in body["input"] if isinstance(body.get("input"), list) else ():
            named = item.get("type") in ("reasoning", "item_reference") and not item.get("encrypted_content")
            if named and item.get("id") not in self.made:
                return _error(404, f"Item with id '{item['id']}' not found. Items are not persisted when `store` "
                                   "is set to false. Try again with `store` set to true, or remove this item "
                                   "from your input.", "input")
        return None

    def _output(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        items = body["input"] if isinstance(body.get("input"), list) else [{"role": "user", "content": body["input"]}]
        last = items[-1]
        output: list[dict[str, Any]] = []
        if "reasoning.encrypted_content" in (body.get("include") or ()):
            output.append({"id": "rs_fake_1", "type": "reasoning", "summary": [],
                           "encrypted_content": REASONING_CONTENT})
        functions = [t["name"] for t in body.get("tools") or () if t.get("type") == "function"]
        made = self.tool_call(functions, TOOL_INPUT) if last.get("type") != "function_call_output" else None
        if made is not None:
            name, arguments = made
            output.append({"id": "fc_fake_1", "type": "function_call", "status": "completed",
                           "call_id": "call_fake_1", "name": name, "arguments": json.dumps(arguments)})
            return output
        text = f"The tool said: {last.get('output')}" if last.get("type") == "function_call_output" \
            else f"Hello from {self.name}."
        text_format = (body.get("text") or {}).get("format") or {}
        if text_format.get("type") == "json_schema":
            text = json.dumps(example_of(text_format.get("schema")))
        output.append({"id": "msg_fake_1", "type": "message", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]})
        return output

    def _response(self, body: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, Any]:
        response_id = f"resp_fake_{len(self.made)}"
        self.made |= {response_id, *(item["id"] for item in output)} if body.get("store", True) else set()
        prompt, completion = _words(body.get("input")), _words(output)
        return {"id": response_id, "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": body.get("model"), "output": output, "store": body.get("store", True),
                "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
                "tools": body.get("tools") or [], "error": None, "incomplete_details": None,
                "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": prompt + completion}}

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body, fault, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        if (refused := self._refusal(body)) is not None:
            return refused
        response = self._response(body, self._output(body))
        if not body.get("stream"):
            return web.json_response(response)
        return await self._stream_events(request, response, fault)

    async def _stream_events(self, request: web.Request, response: dict[str, Any], fault: Fault | None
                      ) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await answer.prepare(request)
        events = [("response.created", {"response": {**response, "status": "in_progress", "output": [],
                                                      "usage": None}})]
        for index, item in enumerate(response["output"]):
            events.append(("response.output_item.added", {"output_index": index, "item": item}))
            if item["type"] == "message":
                text = item["content"][0]["text"]
                events += [("response.output_text.delta", {"item_id": item["id"], "output_index": index,
                                                           "content_index": 0, "delta": piece})
                           for piece in [text[i:i + 6] for i in range(0, len(text), 6)]]
                events.append(("response.output_text.done", {"item_id": item["id"], "output_index": index,
                                                              "content_index": 0, "text": text}))
            elif item["type"] == "function_call":
                events.append(("response.function_call_arguments.done", {
                    "item_id": item["id"], "output_index": index, "arguments": item["arguments"]}))
            events.append(("response.output_item.done", {"output_index": index, "item": item}))
        events.append(("response.completed", {"response": response}))
        for sent, (kind, data) in enumerate(events):
            if fault is not None and fault.kind == "drop_after" and sent == fault.after_chunks:
                drop(request)
            event = {"type": kind, "sequence_number": sent, **data}
            await answer.write(f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode())
            await self.pause(sent + 1)
        return answer

    async def input_tokens(self, request: web.Request) -> web.Response:
        body, _, refusal = await self.begin(request)
        return refusal or web.json_response({"object": "response.input_tokens", "input_tokens": _words(body["input"])})

    async def compact(self, request: web.Request) -> web.Response:
        body, _, refusal = await self.begin(request)
        if refusal is not None:
            return refusal
        return web.json_response({"id": "cmp_fake_1", "object": "response.compaction", "created_at": int(time.time()),
                                  "output": [{"id": "cmp_item_fake_1", "type": "compaction",
                                              "encrypted_content": "enc-fake-compaction"}],
                                  "usage": {"input_tokens": _words(body["input"]), "output_tokens": 10,
                                            "total_tokens": _words(body["input"]) + 10}})
