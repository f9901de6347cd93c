"""Input checks with the codes SPEC.md names, done by hand on the parsed dict: the hot path has no
room for a pydantic model of the whole request, and every field we do not check passes through."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import orjson

from core.catalog import Resolution
from core.config import GatewaySettings
from core.errors import RequestError, shown
from core.tokens import exceeds_window

P = ParamSpec("P")
R = TypeVar("R")

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Fields only the gateway reads; they never reach an upstream.
GATEWAY_FIELDS = ("routing", "optimize")


# Deeper than this, a body could be read but not written on to a provider (orjson writes 255 levels).
MAX_DEPTH = 128


def load_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError("We could not parse the JSON body of your request", code="invalid_json") from None
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object", code="invalid_json")
    # Only a body with that many brackets can be that deep: most are never walked.
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _deeper_than(body, MAX_DEPTH):
        raise RequestError(f"The JSON body is nested more than {MAX_DEPTH} levels deep", code="invalid_json")
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
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


def parse_chat(raw: bytes, settings: GatewaySettings) -> dict[str, Any]:
    """The chat request as a dict, checked; raises the first RequestError it finds."""
    body = load_object(raw)
    require_model(body)
    check_messages(body.get("messages"), settings)
    for flag in ("stream", "optimize"):
        value = body.get(flag)
        if value is not None and not isinstance(value, bool):
            raise RequestError(f"{flag} must be a boolean", code="invalid_type", param=flag)
    routing = body.get("routing")
    if routing is not None and not isinstance(routing, dict):
        raise RequestError("routing must be an object", code="invalid_type", param="routing")
    return body


def check_context(body: dict[str, Any], resolution: Resolution) -> None:
    """A prompt over the model's context window is refused before any upstream sees it."""
    window = resolution.info.context_window if resolution.info else None
    if window and (tokens := exceeds_window(body, window)):
        raise RequestError(
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {tokens} tokens.", code="context_length_exceeded", param="messages")


def upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The request as providers see it: gateway-only fields dropped, everything else untouched."""
    if not any(f in body for f in GATEWAY_FIELDS):
        return body
    return {k: v for k, v in body.items() if k not in GATEWAY_FIELDS}


def reads_request(translate: Callable[P, R]) -> Callable[P, R]:
    """For what translates a client's request from one format to another: a field of a shape it cannot
    read is the client's mistake, answered 400 `invalid_request` in the endpoint's format, never a 500."""
    @functools.wraps(translate)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return translate(*args, **kwargs)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            detail = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)[:120]
            raise RequestError(f"A field of the request has the wrong type or shape: {detail}",
                               code="invalid_request") from exc
    return read
