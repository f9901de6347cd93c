"""Streams across the two formats, event by event, as they arrive (each side keeps a little state).

Anthropic's sequence: message_start, then per content block content_block_start, deltas
(text_delta, input_json_delta), content_block_stop; then message_delta (stop_reason, usage) and
message_stop, with ping anywhere. OpenAI's: chat.completion.chunk deltas (content, tool_calls by
index), a chunk with finish_reason, and a usage chunk when asked. Thinking blocks do not cross.
"""

from __future__ import annotations

from core.errors import ProviderFailed
from core.types import JSON
from providers.anthropic.translate import (
    ANSWER_TOOL,
    STOP_TO_ANTHROPIC,
    STOP_TO_OPENAI,
    usage_to_anthropic,
    usage_to_openai,
)

Event = tuple[str, JSON]


class OpenAIChunks:
    """Anthropic stream events in, OpenAI chunks out (an Anthropic provider behind /chat/completions).
    With `answer_tool`, the answer tool's input streams as the message's text (structured output
    asked as a tool)."""

    def __init__(self, provider: str, created: int, include_usage: bool, answer_tool: bool = False) -> None:
        self._provider, self._created, self._include_usage = provider, created, include_usage
        self._answer_tool = answer_tool
        self._id, self._model = "", ""
        self._usage: JSON = {}
        self._tools: dict[int, int] = {}      # Anthropic block index → OpenAI tool_calls index
        self._answer: int | None = None       # the answer tool's block index
        self.finished = False

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def feed(self, kind: str, data: JSON) -> list[JSON]:
        if kind == "message_start":
            message = data.get("message") or {}
            self._id, self._model = message.get("id", ""), message.get("model", "")
            self._usage = dict(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if self._answer_tool and block.get("type") == "tool_use" and block.get("name") == ANSWER_TOOL:
                self._answer = data.get("index", 0)
                return []
            if block.get("type") == "tool_use":
                index = self._tools[data.get("index", 0)] = len(self._tools)
                return [self._chunk({"tool_calls": [{"index": index, "id": block.get("id"), "type": "function",
                                                     "function": {"name": block.get("name"), "arguments": ""}}]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta" and data.get("index", 0) == self._answer:
                return [self._chunk({"content": delta.get("partial_json", "")})]
            if delta.get("type") == "input_json_delta" and data.get("index", 0) in self._tools:
                index = self._tools[data.get("index", 0)]
                return [self._chunk({"tool_calls": [{"index": index,
                                                     "function": {"arguments": delta.get("partial_json", "")}}]})]
            return []
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            reason = (data.get("delta") or {}).get("stop_reason") or "end_turn"
            if reason == "tool_use" and self._answer is not None and not self._tools:
                reason = "end_turn"           # the answer tool's call was the answer
            return [self._chunk({}, STOP_TO_OPENAI.get(reason, "stop"))]
        if kind == "message_stop":
            self.finished = True
            if self._include_usage:
                return [{**self._chunk({}), "choices": [], "usage": usage_to_openai(self._usage)}]
            return []
        if kind == "error":
            error = data.get("error") or {}
            raise ProviderFailed(f"{self._provider}: stream failed: {error.get('type')}: {error.get('message')}",
                                 provider=self._provider)
        return []   # ping, content_block_stop, and event types yet to be invented


class AnthropicEvents:
    """OpenAI chunks in, Anthropic stream events out (`/v1/messages` in front of any provider). The
    message's `model` is the upstream's name for the model that answered, as in a buffered answer
    and on a route to Anthropic; `model` stands in when the upstream names none. An OpenAI upstream
    tells its usage only at the end: message_start says `input_tokens`, the prompt as counted by the
    gateway, and message_delta the upstream's own figures."""

    def __init__(self, model: str, input_tokens: int = 0) -> None:
        self._model = model
        self._input_tokens = input_tokens
        self._started = False
        self._index = -1                      # the current content block
        self._open: str | None = None         # its type, while open
        self._tool_blocks: dict[int, int] = {}   # OpenAI tool_calls index → block index
        self._stop = "end_turn"
        self._usage: JSON | None = None

    def _close(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _start(self, block: JSON) -> list[Event]:
        events = self._close()
        self._index += 1
        self._open = block["type"]
        return [*events, ("content_block_start", {"type": "content_block_start", "index": self._index,
                                                  "content_block": block})]

    def feed(self, chunk: JSON) -> list[Event]:
        events: list[Event] = []
        if not self._started:
            self._started = True
            message_id = str(chunk.get("id") or "")
            events += [("message_start", {"type": "message_start", "message": {
                "id": message_id if message_id.startswith("msg_") else f"msg_{message_id}", "type": "message",
                "role": "assistant", "model": chunk.get("model") or self._model, "content": [], "stop_reason": None,
                "stop_sequence": None, "usage": {"input_tokens": self._input_tokens, "output_tokens": 0}}}),
                ("ping", {"type": "ping"})]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in (chunk.get("choices") or [])[:1]:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._open != "text":
                    events += self._start({"type": "text", "text": ""})
                events.append(("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                                       "delta": {"type": "text_delta", "text": delta["content"]}}))
            for call in delta.get("tool_calls") or ():
                position = call.get("index", 0)
                if position not in self._tool_blocks:
                    events += self._start({"type": "tool_use", "id": call.get("id") or f"toolu_{position}",
                                           "name": (call.get("function") or {}).get("name", ""), "input": {}})
                    self._tool_blocks[position] = self._index
                arguments = (call.get("function") or {}).get("arguments")
                if arguments:
                    events.append(("content_block_delta", {
                        "type": "content_block_delta", "index": self._tool_blocks[position],
                        "delta": {"type": "input_json_delta", "partial_json": arguments}}))
            if choice.get("finish_reason"):
                self._stop = STOP_TO_ANTHROPIC.get(choice["finish_reason"], "end_turn")
                events += self._close()
        return events

    def finish(self) -> list[Event]:
        """After the last chunk: close what is open, then stop reason and usage, then message_stop."""
        usage = usage_to_anthropic(self._usage)
        return [*self._close(),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": self._stop, "stop_sequence": None},
                                   "usage": {"output_tokens": usage["output_tokens"],
                                             "input_tokens": usage["input_tokens"]}}),
                ("message_stop", {"type": "message_stop"})]
