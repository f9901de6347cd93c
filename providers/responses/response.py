"""A chat answer as a Responses response: the finished object, or the event sequence streamed.

Tool calls come back as the items their tools stand for (`function_call`, `custom_tool_call`, with
their namespace); when the request asked for compaction the answer's text becomes a `compaction`
item instead of a message.
"""

from __future__ import annotations

from typing import Any

from core.errors import GatewayError
from core.types import JSON, NamedEvent
from providers.responses.compaction import compaction_item
from providers.responses.ids import new_id
from providers.responses.tools import Tools, custom_input


def skeleton(body: JSON, response_id: str, created_at: int) -> JSON:
    """The response object before any output: what `response.created` carries."""
    reasoning = body.get("reasoning") or {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": "in_progress",
        "background": False, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"], "output": [], "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store", True) is not False, "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [], "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"), "usage": None, "user": body.get("user"),
        "metadata": body.get("metadata") or {},
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


def chat_usage(response_usage: JSON | None) -> JSON | None:
    """A response's usage in core's (chat's) terms, as it is billed."""
    if not isinstance(response_usage, dict):
        return None
    prompt, completion = response_usage.get("input_tokens") or 0, response_usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": (response_usage.get("input_tokens_details") or {})
                                      .get("cached_tokens") or 0},
            "completion_tokens_details": {"reasoning_tokens": (response_usage.get("output_tokens_details") or {})
                                          .get("reasoning_tokens") or 0}}


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


def from_chat(response: JSON, completion: JSON, tools: Tools, compacting: bool) -> JSON:
    """A chat completion as the finished response object (`response`, a skeleton, is filled in)."""
    choice = (completion.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    if compacting:
        response["output"].append(compaction_item(reply.get("content") or ""))
    elif reply.get("content"):
        response["output"].append(message_item(reply["content"], new_id("msg")))
    response["output"] += [tools.call_item(call, new_id("fc")) for call in reply.get("tool_calls") or ()]
    return _finish(response, choice.get("finish_reason"), completion.get("usage"))


def failed(response: JSON, err: GatewayError) -> JSON:
    return {**response, "status": "failed", "error": {"code": err.code, "message": err.message}}


class ResponseEvents:
    """Chat chunks in, the Responses event sequence out, each event with its sequence number."""

    def __init__(self, response: JSON, tools: Tools, compacting: bool) -> None:
        self.response = response
        self._tools, self._compacting = tools, compacting
        self._sequence = 0
        self._text: JSON | None = None             # the open message item
        self._summary = ""                         # the text, when it is a compaction's summary
        self._calls: dict[int, JSON] = {}           # chat tool_calls index → its item
        self._arguments: dict[str, str] = {}        # a custom tool call's arguments so far, by item id
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

    def _added(self, item: JSON, **blank: Any) -> NamedEvent:
        self.response["output"].append(item)
        return self._event("response.output_item.added", output_index=self._index(item), item={**item, **blank})

    def _open_text(self) -> list[NamedEvent]:
        item = self._text = message_item("", new_id("msg"), "in_progress")
        added = self._added(item, content=[])
        return [added, self._event("response.content_part.added", item_id=item["id"], output_index=self._index(item),
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": [],
                                                          "logprobs": []})]

    def _text_delta(self, text: str) -> list[NamedEvent]:
        if self._compacting:
            self._summary += text
            return []
        events = self._open_text() if self._text is None else []
        assert self._text is not None
        self._text["content"][0]["text"] += text
        return [*events, self._event("response.output_text.delta", item_id=self._text["id"],
                                     output_index=self._index(self._text), content_index=0, delta=text, logprobs=[])]

    def _call_delta(self, call: JSON) -> list[NamedEvent]:
        events: list[NamedEvent] = []
        item = self._calls.get(call.get("index", 0))
        if item is None:
            item = self._calls[call.get("index", 0)] = self._tools.call_item(call, new_id("fc"), "in_progress")
            blank = {"input": ""} if item["type"] == "custom_tool_call" else {"arguments": ""}
            events.append(self._added(item, **blank))
            item.update(blank)
        arguments = (call.get("function") or {}).get("arguments")
        if not arguments:
            return events
        if item["type"] == "custom_tool_call":      # its input is known once its arguments are whole
            self._arguments[item["id"]] = self._arguments.get(item["id"], "") + arguments
            return events
        item["arguments"] += arguments
        return [*events, self._event("response.function_call_arguments.delta", item_id=item["id"],
                                     output_index=self._index(item), delta=arguments)]

    def feed(self, chunk: JSON) -> list[NamedEvent]:
        events: list[NamedEvent] = []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events += self._text_delta(delta["content"])
            for call in delta.get("tool_calls") or ():
                events += self._call_delta(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _item_done(self, item: JSON) -> list[NamedEvent]:
        index = self._index(item)
        item["status"] = "completed"
        if item["type"] == "message":
            part = item["content"][0]
            events = [self._event("response.output_text.done", item_id=item["id"], output_index=index,
                                  content_index=0, text=part["text"], logprobs=[]),
                      self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                  content_index=0, part=part)]
        elif item["type"] == "custom_tool_call":
            item["input"] = custom_input(self._arguments.get(item["id"], ""))
            events = [self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                                  input=item["input"])]
        elif item["type"] == "function_call":
            events = [self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                  name=item["name"], arguments=item["arguments"])]
        else:
            events = []
        return [*events, self._event("response.output_item.done", output_index=index, item=item)]

    def done(self) -> list[NamedEvent]:
        """Close every item; the response is then whole (store it before `completed`)."""
        events: list[NamedEvent] = []
        if self._compacting:
            events.append(self._added(compaction_item(self._summary)))
        for item in list(self.response["output"]):
            events += self._item_done(item)
        _finish(self.response, self._finish_reason, self._usage)
        return events

    def completed(self) -> list[NamedEvent]:
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        return [self._event(kind, response=self.response)]

    def failed(self, err: GatewayError) -> list[NamedEvent]:
        self.response = failed(self.response, err)
        return [self._event("response.failed", response=self.response)]
