"""OpenAI's Responses API as an inbound format, over any chat provider.

Input items (messages, function calls and their outputs) become chat messages; a chat completion
becomes a response with `output` items; chat chunks become the Responses event sequence with
sequence numbers. Function tools only: a built-in tool (web search, file search, …) has no chat
equivalent and is refused with 400. `metadata` is kept on the response, never sent upstream;
`instructions` apply to their own request only, as OpenAI does with `previous_response_id`.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from core.errors import GatewayError, RequestError, shown
from core.shapes import ARRAY, BOOL, INT, NUMBER, OBJECT, STR, Shape, check, parts
from core.types import JSON, NamedEvent

ROLES = frozenset({"user", "system", "developer", "assistant"})
# The shapes of what the translation to chat reads.
FIELDS: Shape = {"tools": (ARRAY, False), "tool_choice": ((STR, OBJECT), False), "temperature": (NUMBER, False),
                 "top_p": (NUMBER, False), "max_output_tokens": (INT, False), "parallel_tool_calls": (BOOL, False),
                 "user": (STR, False), "text": (OBJECT, False)}
TEXT_PART: Shape = {"text": (STR, True)}
PARTS: dict[str, Shape] = {"input_text": TEXT_PART, "output_text": TEXT_PART, "text": TEXT_PART,
                           "input_image": {"image_url": (STR, False), "detail": (STR, False)},
    "input_file": {"file_data": (STR, False), "filename": (STR, False)}}
ITEM_TYPES = frozenset({"message", "function_call", "function_call_output"})


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def _invalid(message: str, param: str = "input") -> RequestError:
    return RequestError(message, code="invalid_input", param=param)


# -- request ---------------------------------------------------------------------------------------
def _content_parts(content: Any, role: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "output_text" if role == "assistant" else "input_text", "text": content,
                 **({"annotations": []} if role == "assistant" else {})}]
    return list(content)


def input_items(body: JSON) -> list[JSON]:
    """The request's `input` as stored items, each with an id (what input_items lists)."""
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise _invalid("input must be a string or a non-empty array of input items")
    items: list[JSON] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _invalid(f"input[{i}] must be an object", f"input[{i}]")
        kind = item.get("type", "message")
        if not isinstance(kind, str) or kind not in ITEM_TYPES:
            raise _invalid(f"input[{i}]: item type {shown(kind)} is not supported", f"input[{i}]")
        if kind == "message":
            if not isinstance(item.get("role"), str) or item["role"] not in ROLES \
                    or not isinstance(item.get("content"), str | list):
                raise _invalid(f"input[{i}] needs a role ({', '.join(sorted(ROLES))}) and content", f"input[{i}]")
            if isinstance(item["content"], list):
                parts(item["content"], f"input[{i}].content", PARTS)
            items.append({"id": item.get("id") or new_id("msg"), "type": "message", "role": item["role"],
                          "content": _content_parts(item["content"], item["role"]), "status": "completed"})
        elif kind == "function_call":
            if not item.get("call_id") or not item.get("name"):
                raise _invalid(f"input[{i}]: a function_call needs call_id and name", f"input[{i}]")
            check(item, f"input[{i}]", {"call_id": (STR, True), "name": (STR, True), "arguments": (STR, False)})
            items.append({"id": item.get("id") or new_id("fc"), "type": "function_call", "call_id": item["call_id"],
                          "name": item["name"], "arguments": item.get("arguments", ""), "status": "completed"})
        else:
            if not item.get("call_id"):
                raise _invalid(f"input[{i}]: a function_call_output needs call_id", f"input[{i}]")
            check(item, f"input[{i}]", {"call_id": (STR, True)})
            output = item.get("output", "")
            items.append({"id": item.get("id") or new_id("fco"), "type": "function_call_output",
                          "call_id": item["call_id"],
                          "output": output if isinstance(output, str) else orjson.dumps(output).decode()})
    return items


def _chat_content(parts: list[JSON]) -> str | list[JSON]:
    converted: list[JSON] = []
    for part in parts:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            converted.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_file":
            if not isinstance(part.get("file_data"), str):
                raise RequestError("an input_file given by id or URL (not inline as file_data) cannot be sent to a "
                                   "chat model", code="unsupported_content", param="input")
            converted.append({"type": "file", "file": {"file_data": part["file_data"],
                                                       "filename": part.get("filename") or "document.pdf"}})
        elif kind == "input_image":
            converted.append({"type": "image_url", "image_url": {"url": part.get("image_url", ""),
                                                                 **({"detail": part["detail"]} if part.get("detail")
                                                                    else {})}})
    if all(p["type"] == "text" for p in converted):
        return "".join(p["text"] for p in converted)
    return converted


def items_to_messages(items: list[JSON]) -> list[JSON]:
    """Conversation items as chat messages: function calls join the assistant turn they follow."""
    messages: list[JSON] = []
    for item in items:
        if item["type"] == "message":
            messages.append({"role": item["role"], "content": _chat_content(item["content"])})
        elif item["type"] == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments", "")}}
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
    return messages


def _tools(tools: Any) -> list[JSON]:
    converted = []
    for i, tool in enumerate(tools or ()):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise RequestError(f"tools[{i}]: tool type {shown(kind)} is not supported; only function tools are",
                               code="unsupported_tool", param=f"tools[{i}]")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        converted.append({"type": "function", "function": function})
    return converted


def to_chat(body: JSON, history: list[JSON], new_items: list[JSON]) -> JSON:
    """The chat request that answers this response: instructions, the whole chain, this input."""
    check(body, "", FIELDS)
    if isinstance(body.get("text"), dict):
        check(body["text"], "text", {"format": (OBJECT, False)})
    messages = items_to_messages([*history, *new_items])
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    chat: JSON = {"model": body["model"], "messages": messages}
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif isinstance(choice, str):
            chat["tool_choice"] = choice
    for source, target in (("temperature", "temperature"), ("top_p", "top_p"), ("max_output_tokens", "max_tokens"),
                           ("parallel_tool_calls", "parallel_tool_calls"), ("user", "user")):
        if body.get(source) is not None:
            chat[target] = body[source]
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {
            k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format}}
    elif text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    return chat


# -- response --------------------------------------------------------------------------------------
def skeleton(body: JSON, response_id: str, created_at: int) -> JSON:
    """The response object before any output: what `response.created` carries."""
    tools = body.get("tools") or []
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": "in_progress",
        "background": False, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"], "output": [], "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"), "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True) is not False, "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
        "tools": tools, "top_p": body.get("top_p", 1.0), "truncation": body.get("truncation", "disabled"),
        "usage": None, "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


def usage(chat_usage: JSON | None) -> JSON:
    chat_usage = chat_usage or {}
    prompt, completion = chat_usage.get("prompt_tokens") or 0, chat_usage.get("completion_tokens") or 0
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": (chat_usage.get("prompt_tokens_details") or {})
                                     .get("cached_tokens") or 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": (chat_usage.get("completion_tokens_details") or {})
                                      .get("reasoning_tokens") or 0},
            "total_tokens": chat_usage.get("total_tokens") or prompt + completion}


def _finish(response: JSON, finish_reason: str | None, chat_usage: JSON | None) -> JSON:
    response["usage"] = usage(chat_usage)
    if finish_reason == "length":
        response["status"], response["incomplete_details"] = "incomplete", {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"], response["incomplete_details"] = "incomplete", {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    return response


def message_item(text: str, item_id: str, status: str = "completed") -> JSON:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def call_item(call: JSON, item_id: str, status: str = "completed") -> JSON:
    function = call.get("function") or {}
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call.get("id") or item_id,
            "name": function.get("name", ""), "arguments": function.get("arguments") or ""}


def from_chat(body: JSON, completion: JSON, response_id: str, created_at: int) -> JSON:
    """A chat completion as the finished response object."""
    response = skeleton(body, response_id, created_at)
    choice = (completion.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    if reply.get("content"):
        response["output"].append(message_item(reply["content"], new_id("msg")))
    response["output"] += [call_item(call, new_id("fc")) for call in reply.get("tool_calls") or ()]
    return _finish(response, choice.get("finish_reason"), completion.get("usage"))


def failed(response: JSON, err: GatewayError) -> JSON:
    return {**response, "status": "failed", "error": {"code": err.code, "message": err.message}}


class ResponsesFormat:
    """What core's `/v1/responses` routes are handed: this module's translation, as one object."""

    input_items = staticmethod(input_items)
    to_chat = staticmethod(to_chat)
    skeleton = staticmethod(skeleton)
    from_chat = staticmethod(from_chat)
    failed = staticmethod(failed)

    @staticmethod
    def events(response: JSON) -> ResponseEvents:
        return ResponseEvents(response)


# -- stream ----------------------------------------------------------------------------------------
class ResponseEvents:
    """Chat chunks in, the Responses event sequence out, each event with its sequence number."""

    def __init__(self, response: JSON) -> None:
        self.response = response
        self._sequence = 0
        self._text: JSON | None = None             # the open message item
        self._calls: dict[int, JSON] = {}           # chat tool_calls index → its function_call item
        self._finish_reason: str | None = None
        self._usage: JSON | None = None

    def _event(self, kind: str, **fields: Any) -> NamedEvent:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return kind, event

    def start(self) -> list[NamedEvent]:
        return [self._event("response.created", response=self.response),
                self._event("response.in_progress", response=self.response)]

    def _index(self, item: JSON) -> int:
        return self.response["output"].index(item)

    def _open_text(self) -> list[NamedEvent]:
        item = message_item("", new_id("msg"), "in_progress")
        self._text = item
        self.response["output"].append(item)
        index = self._index(item)
        return [self._event("response.output_item.added", output_index=index, item={**item, "content": []}),
                self._event("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                            part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})]

    def feed(self, chunk: JSON) -> list[NamedEvent]:
        events: list[NamedEvent] = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._text is None:
                    events += self._open_text()
                assert self._text is not None
                self._text["content"][0]["text"] += delta["content"]
                events.append(self._event("response.output_text.delta", item_id=self._text["id"],
                                          output_index=self._index(self._text), content_index=0,
                                          delta=delta["content"], logprobs=[]))
            for call in delta.get("tool_calls") or ():
                position = call.get("index", 0)
                item = self._calls.get(position)
                if item is None:
                    item = self._calls[position] = call_item(call, new_id("fc"), "in_progress")
                    self.response["output"].append(item)
                    events.append(self._event("response.output_item.added", output_index=self._index(item),
                                              item={**item, "arguments": ""}))
                    item["arguments"] = ""
                arguments = (call.get("function") or {}).get("arguments")
                if arguments:
                    item["arguments"] += arguments
                    events.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                              output_index=self._index(item), delta=arguments))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def done(self) -> list[NamedEvent]:
        """Close every item; the response is then whole (store it before `completed`)."""
        events: list[NamedEvent] = []
        for item in self.response["output"]:
            index = self._index(item)
            item["status"] = "completed"
            if item["type"] == "message":
                part = item["content"][0]
                events += [self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                       content_index=0, text=part["text"], logprobs=[]),
                           self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                       content_index=0, part=part)]
            else:
                events.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                          output_index=index, name=item["name"], arguments=item["arguments"]))
            events.append(self._event("response.output_item.done", output_index=index, item=item))
        _finish(self.response, self._finish_reason, self._usage)
        return events

    def completed(self) -> list[NamedEvent]:
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        return [self._event(kind, response=self.response)]

    def failed(self, err: GatewayError) -> list[NamedEvent]:
        self.response = failed(self.response, err)
        return [self._event("response.failed", response=self.response)]
