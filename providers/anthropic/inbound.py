"""The Anthropic Messages API as an inbound format: what `/v1/messages` checks, how it translates to
core's format and back, and how its errors read."""

from __future__ import annotations

import datetime

import orjson

from core import sse
from core.errors import ContextTooLong, GatewayError, RequestError
from core.shapes import ARRAY, BOOL, INT, NUMBER, OBJECT, STR, Shape, check, each, parts
from core.types import JSON, NamedEvent
from providers.anthropic import FORWARDED, FORWARDED_QUERY
from providers.anthropic.stream import AnthropicEvents
from providers.anthropic.translate import (
    request_to_openai,
    require_translatable,
    response_to_anthropic,
    usage_to_openai,
)

# Anthropic's error types by HTTP status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"}
# Turn roles: a `system` turn mid-conversation is Anthropic's beta `mid-conversation-system-2026-04-07`,
# which Claude Code sends for models it does not know (every model behind a gateway): an Anthropic
# upstream judges it; a translation puts it in place as a system message.
ROLES = ("user", "assistant", "system")
# The shapes of what the gateway, or a translation to core's format, reads of a Messages request.
FIELDS: Shape = {"system": ((STR, ARRAY), False), "tools": (ARRAY, False), "tool_choice": (OBJECT, False),
                 "stop_sequences": (ARRAY, False), "temperature": (NUMBER, False), "top_p": (NUMBER, False),
                 "top_k": (INT, False), "metadata": (OBJECT, False), "stream": (BOOL, False)}
BLOCKS: dict[str, Shape] = {
    "text": {"text": (STR, True)},
    "image": {"source": (OBJECT, True)},
    "document": {"source": (OBJECT, True), "title": (STR, False)},
    "tool_use": {"id": (STR, True), "name": (STR, True), "input": (OBJECT, True)},
    "tool_result": {"tool_use_id": (STR, True), "content": ((STR, ARRAY), False)},
    "thinking": {"thinking": (STR, True)},
}
SOURCE: Shape = {"type": (STR, True), "url": (STR, False), "data": (STR, False), "media_type": (STR, False)}
TOOL: Shape = {"name": (STR, True), "description": (STR, False), "input_schema": (OBJECT, False)}


def usage_of(usage: JSON | None) -> JSON | None:
    """Anthropic's usage in core's terms: cache writes and reads are prompt tokens too."""
    return usage_to_openai(usage) if usage else None


def _error(err: GatewayError) -> JSON:
    kind = ERROR_TYPES.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": _worded(err)}}


def _worded(err: GatewayError) -> str:
    """Anthropic's own words where a client acts on them: Claude Code compacts its conversation on
    "prompt is too long"."""
    if isinstance(err, ContextTooLong):
        return f"prompt is too long: {err.tokens} tokens > {err.window} maximum"
    return err.message


class MessagesStream:
    """Anthropic's event stream on the wire, and what each event says of usage and generated text:
    input at message_start (its output count is a placeholder), output at message_delta."""

    def begin(self) -> bytes:
        return b""

    def encode(self, event: NamedEvent) -> bytes:
        name, data = event
        return sse.encode(orjson.dumps(data), name)

    def reading(self, event: NamedEvent) -> tuple[JSON | None, str]:
        name, data = event
        if name == "message_start" and (usage := (data.get("message") or {}).get("usage")):
            counted = usage_to_openai(usage)
            return {"prompt_tokens": counted["prompt_tokens"],
                    "prompt_tokens_details": counted["prompt_tokens_details"]}, ""
        if name == "message_delta" and (usage := data.get("usage")):
            counted = usage_to_openai(usage)
            return ({"completion_tokens": counted["completion_tokens"]} if "input_tokens" not in usage
                    else counted), ""
        if name == "content_block_delta":
            delta = data.get("delta") or {}
            return None, delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
        return None, ""

    def costed(self, event: NamedEvent, cost: float) -> NamedEvent:
        name, data = event
        return (name, sse.with_cost(data, cost)) if name == "message_delta" else event

    async def end(self) -> bytes:
        return b""

    async def fail(self, err: GatewayError) -> bytes:
        return sse.encode(orjson.dumps(_error(err)), "error")


def _blocks(blocks: list[JSON], path: str) -> None:
    """Content blocks by type (unknown types pass: a native route carries them); a tool result's own
    content, and image sources, too."""
    parts(blocks, path, BLOCKS)
    for i, block in enumerate(blocks):
        if block["type"] in ("image", "document"):
            check(block["source"], f"{path}[{i}].source", SOURCE)
        elif block["type"] == "tool_result" and isinstance(block.get("content"), list):
            _blocks(block["content"], f"{path}[{i}].content")


def _invalid(message: str, param: str = "messages") -> RequestError:
    return RequestError(message, code="invalid_messages", param=param)


class MessagesFormat:
    name = "anthropic"
    forwarded_headers = FORWARDED
    forwarded_query = FORWARDED_QUERY

    def check(self, body: JSON, counting: bool = False) -> None:
        """Raises the first RequestError; `counting` (count_tokens) needs no max_tokens."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _invalid("messages: must be a non-empty array of user and assistant turns")
        for i, turn in enumerate(messages):
            if not isinstance(turn, dict) or turn.get("role") not in ROLES:
                raise _invalid(f"messages.{i}.role: must be 'user', 'assistant' or 'system'", f"messages[{i}]")
            content = turn.get("content")
            if isinstance(content, list):
                _blocks(content, f"messages[{i}].content")
            elif not isinstance(content, str):
                raise _invalid(f"messages.{i}.content: must be a string or an array of content blocks",
                               f"messages[{i}]")
        check(body, "", FIELDS)
        if isinstance(body.get("system"), list):
            _blocks(body["system"], "system")
        for i, tool in enumerate(each(body.get("tools") or [], "tools", dict)):
            check(tool, f"tools[{i}]", TOOL)
        if isinstance(body.get("stop_sequences"), list):
            each(body["stop_sequences"], "stop_sequences", str)
        if (choice := body.get("tool_choice")) is not None:
            check(choice, "tool_choice", {"type": (STR, True), **({"name": (STR, True)}
                                                                  if choice.get("type") == "tool" else {})})
        if isinstance(body.get("metadata"), dict):
            check(body["metadata"], "metadata", {"user_id": (STR, False)})
        if counting:
            return
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise RequestError("max_tokens: Field required (a positive integer)", code="invalid_request",
                               param="max_tokens")

    def to_core(self, body: JSON) -> JSON:
        return request_to_openai(body)

    def require_translatable(self, body: JSON) -> None:
        require_translatable(body)

    def from_core(self, completion: JSON) -> JSON:
        return response_to_anthropic(completion)

    def stream_from_core(self, model: str, prompt_tokens: int) -> AnthropicEvents:
        return AnthropicEvents(model, prompt_tokens)

    def usage_of(self, answer: JSON) -> JSON | None:
        return usage_of(answer.get("usage"))

    def token_count(self, tokens: int) -> JSON:
        return {"input_tokens": tokens}

    def stream(self) -> MessagesStream:
        return MessagesStream()

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps(_error(err))

    def model_view(self, model: JSON) -> JSON:
        created = datetime.datetime.fromtimestamp(model["created"], datetime.UTC)
        return {"type": "model", "id": model["id"], "display_name": model["id"],
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def model_list(self, models: list[JSON]) -> JSON:
        data = [self.model_view(m) for m in models]
        return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}

    def openapi(self) -> tuple[JSON, JSON]:
        from providers.anthropic.openapi import part  # the document is built on its first request

        return part()
