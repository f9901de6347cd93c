"""Input checks with the codes SPEC.md names, on the parsed dict: sizes, roles, and the shapes of the
fields the gateway reads in core's format (OpenAI chat), declared as tables (core.shapes); every
field not named passes through."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from core.catalog import ModelInfo, Resolution
from core.config import GatewaySettings
from core.errors import ContextTooLong, RequestError, shown
from core.shapes import ARRAY, BOOL, INT, NUMBER, OBJECT, STR, Shape, check, each, invalid, parts
from core.tokens import exceeds_window

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Fields only the gateway reads; they never reach an upstream.
T = TypeVar("T")
GATEWAY_FIELDS = ("routing", "optimize")
REASONING_ONLY = ("reasoning_effort", "verbosity")   # what only a reasoning model takes

# The shapes of what the gateway (and a translation to another format) reads of a chat request.
CHAT_FIELDS: Shape = {
    "stream": (BOOL, False), "optimize": (BOOL, False), "routing": (OBJECT, False), "stream_options": (OBJECT, False),
    "temperature": (NUMBER, False), "top_p": (NUMBER, False), "max_tokens": (INT, False),
    "max_completion_tokens": (INT, False), "n": (INT, False), "stop": ((STR, ARRAY), False), "tools": (ARRAY, False),
    "tool_choice": ((STR, OBJECT), False), "parallel_tool_calls": (BOOL, False), "user": (STR, False),
}
CHAT_PARTS: dict[str, Shape] = {"text": {"text": (STR, True)}, "image_url": {"image_url": ((STR, OBJECT), True)},
                                 "file": {"file": (OBJECT, True)}}
FILE: Shape = {"file_data": (STR, False), "file_id": (STR, False), "filename": (STR, False)}
FUNCTION_TOOL: Shape = {"function": (OBJECT, True)}
FUNCTION: Shape = {"name": (STR, True), "description": (STR, False), "parameters": (OBJECT, False)}


# Deeper than this, a body could be read but not written on to a provider (orjson writes at most 254
# nested arrays and objects; the gateway's own wrapping needs some of them).
MAX_DEPTH = 128
WRITABLE = 254
# Each array or object costs the parsed body ~70 bytes: a 10 MB body of `[{},{},…]` once took 367 MB.
# Counted in the raw bytes (brackets inside strings too, so the bound is loose), before parsing.
MAX_CONTAINERS = 1_000_000
PARSE_INLINE_BYTES = 1_000_000   # a larger body is parsed on a worker thread, not the event loop


def load_object(raw: bytes) -> dict[str, Any]:
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > MAX_CONTAINERS:
        raise RequestError(f"The JSON body holds more than {MAX_CONTAINERS:,} arrays and objects", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError("We could not parse the JSON body of your request", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object", code="invalid_json")
    # Only a body with that many brackets can be that deep: most are never probed.
    if brackets > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise RequestError(f"The JSON body is nested more than {MAX_DEPTH} levels deep", code="invalid_json")
    return body


async def parse_json(raw: bytes, parse: Callable[[bytes], T]) -> T:
    """`parse(raw)`: on the event loop for a small body, on a worker thread for a large one."""
    if len(raw) <= PARSE_INLINE_BYTES:
        return parse(raw)
    return await asyncio.to_thread(parse, raw)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` arrays and objects, found by orjson's own writer: put
    inside WRITABLE - limit arrays, a value deeper than `limit` is past what it will write. (A walk in
    Python took 0.4 ms for an agent's 100 KB request; this, the 20 µs of one serialization.)"""
    probe: Any = value
    for _ in range(WRITABLE - limit):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:
        return True
    return False


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("The model parameter is required", code="missing_model", param="model")
    return model


def _invalid(message: str, index: int | None = None) -> RequestError:
    param = "messages" if index is None else f"messages[{index}]"
    return RequestError(message, code="invalid_messages", param=param)


def _text_bytes(content: Any) -> int:
    """UTF-8 size of a message's text (string content or text parts), computed cheaply."""
    if isinstance(content, str):
        return len(content) if content.isascii() else len(content.encode())
    total = 0
    for part in content or ():
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            total += _text_bytes(part["text"])
    return total


def check_messages(messages: Any, settings: GatewaySettings) -> None:
    if not isinstance(messages, list) or not messages:
        raise _invalid("Messages must be a non-empty array with valid role and content")
    if len(messages) > settings.max_messages:
        raise RequestError(f"Too many messages. Maximum: {settings.max_messages}",
                           code="too_many_messages", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid("Each message must be an object with role and content", i)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _invalid(f"Invalid role {shown(role)}: expected one of {', '.join(sorted(ROLES))}", i)
        content = message.get("content")
        if content is None:
            if role != "assistant" and role != "function":
                raise _invalid(f"A {role} message needs content", i)
        elif not isinstance(content, str | list):
            raise _invalid("content must be a string or an array of content parts", i)
        elif _text_bytes(content) > settings.max_message_bytes:
            raise RequestError(f"Message too long. Maximum length: {settings.max_message_bytes} bytes",
                               code="message_too_long", param=f"messages[{i}].content")


def check_message_shapes(messages: list[dict[str, Any]]) -> None:
    """A client's chat messages (a translation's output needs no second look): content parts and
    tool calls, where a message has them (most are `{role, content: str}`)."""
    for i, message in enumerate(messages):
        if isinstance(message.get("content"), list) or len(message) > 2:
            _check_message_shape(message, i)


def _check_message_shape(message: dict[str, Any], i: int) -> None:
    """MESSAGE_FIELDS and FUNCTION_CALL written out: an agent's request has a hundred such messages,
    and the table walk cost 1.4 µs each (bench/agent.py). Content parts go through CHAT_PARTS."""
    content = message.get("content")
    if isinstance(content, list):
        path = f"messages[{i}].content"
        parts(content, path, CHAT_PARTS)
        for j, part in enumerate(content):
            image = part.get("image_url") if part["type"] == "image_url" else None
            if isinstance(image, dict):
                check(image, f"{path}[{j}].image_url", {"url": (STR, True)})
            elif part["type"] == "file":
                check(part["file"], f"{path}[{j}].file", FILE)
    for name in ("tool_call_id", "name"):
        if (value := message.get(name)) is not None and not isinstance(value, str):
            raise invalid(f"messages[{i}].{name}", "must be a string")
    calls = message.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise invalid(f"messages[{i}].tool_calls", "must be an array")
    for j, call in enumerate(calls):
        if not isinstance(call, dict) or not isinstance(call.get("type"), str):
            raise invalid(f"messages[{i}].tool_calls[{j}]", "must be an object with a string type")
        if call["type"] != "function":
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            raise invalid(f"messages[{i}].tool_calls[{j}].function", "is required (an object)")
        if not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            field = "arguments" if isinstance(function.get("name"), str) else "name"
            raise invalid(f"messages[{i}].tool_calls[{j}].function.{field}", "must be a string")


def check_chat_fields(body: dict[str, Any]) -> None:
    """The request's own fields a gateway or a translation reads: their types, tools and tool_choice."""
    check(body, "", CHAT_FIELDS)
    if isinstance(body.get("stop"), list):
        each(body["stop"], "stop", str)
    for i, tool in enumerate(body.get("tools") or ()):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise invalid(f"tools[{i}]", "must be an object with a string type")
        if tool["type"] == "function":
            check(tool, f"tools[{i}]", FUNCTION_TOOL)
            check(tool["function"], f"tools[{i}].function", FUNCTION)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        check(choice, "tool_choice", {"function": (OBJECT, True)})
        check(choice["function"], "tool_choice.function", {"name": (STR, True)})


def parse_chat(raw: bytes, settings: GatewaySettings) -> dict[str, Any]:
    """The chat request as a dict, checked; raises the first RequestError it finds."""
    body = load_object(raw)
    require_model(body)
    check_messages(body.get("messages"), settings)
    check_message_shapes(body["messages"])
    check_chat_fields(body)
    return body


def check_context(resolution: Resolution, prompt: Callable[[], dict[str, Any]], raw_bytes: int | None = None) -> None:
    """A prompt over the model's context window is refused before any upstream sees it. `raw_bytes`,
    the size of the request the prompt came in whole, bounds its tokens (each token is at least a byte
    of the request's text, and each message's JSON outweighs its few tokens of overhead): within the
    window, the prompt (core's format, made by `prompt` only when needed) is not even looked at."""
    window = resolution.info.context_window if resolution.info else None
    if not window or (raw_bytes is not None and raw_bytes <= window):
        return
    if tokens := exceeds_window(prompt(), window):
        raise ContextTooLong(tokens, window)


def for_model(body: dict[str, Any], info: ModelInfo | None) -> dict[str, Any]:
    """A request translated into core's format, fitted to the model a route reaches: an OpenAI
    reasoning model takes `max_completion_tokens` (it refuses `max_tokens`); any other model is not
    sent `reasoning_effort` or `verbosity` (it would refuse them). What a client sent in core's format
    is not fitted."""
    if info is not None and info.reasoning:
        if "max_tokens" not in body:
            return body
        fitted = {k: v for k, v in body.items() if k != "max_tokens"}
        return {**fitted, "max_completion_tokens": body["max_tokens"]}
    if "reasoning_effort" in body or "verbosity" in body:
        return {k: v for k, v in body.items() if k not in REASONING_ONLY}
    return body


def upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request as providers see it: gateway-only fields dropped, everything else untouched."""
    if not any(f in body for f in GATEWAY_FIELDS):
        return body
    return {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}
