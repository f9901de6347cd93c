"""What `/v1/messages` adds to the gateway's OpenAPI document: Anthropic's request, answer and error
schemas, and its two paths (built on the first request for the document, never at a cold start)."""

from __future__ import annotations

from core.openapi import (
    BOOLEAN,
    COUNT,
    JSON,
    OBJECT,
    STRING,
    TEXT,
    Part,
    array,
    enum,
    nullable,
    obj,
    one_of,
    operation,
    ref,
)

ERRORS = ("AnthropicError", (400, 401, 402, 403, 404, 413, 429, 502, 503))
MESSAGE = obj(("role", "content"), role=enum(["user", "assistant"]),
              content=one_of(STRING, array(obj(("type",), type=STRING))))
SCHEMAS: JSON = {
    "AnthropicError": obj(("type", "error"), type=enum(["error"]),
                          error=obj(("type", "message"), type=STRING, message=STRING)),
    "AnthropicMessage": MESSAGE,
    "MessagesRequest": obj(
        ("model", "max_tokens", "messages"), model=TEXT, max_tokens=COUNT,
        messages=array(ref("AnthropicMessage"), minItems=1, maxItems=1000),
        system=one_of(STRING, array(obj(("type", "text"), type=enum(["text"]), text=STRING))), stream=BOOLEAN,
        temperature={"type": "number", "minimum": 0, "maximum": 1},
        top_p={"type": "number", "minimum": 0, "maximum": 1},
        top_k=COUNT, stop_sequences=array(STRING),
        tools=array(obj(("name", "input_schema"), name=TEXT, description=STRING, input_schema=OBJECT)),
        tool_choice=obj(("type",), type=enum(["auto", "any", "tool", "none"]), name=STRING), metadata=OBJECT),
    "CountTokensRequest": obj(("model", "messages"), model=TEXT,
                              messages=array(ref("AnthropicMessage"), minItems=1, maxItems=1000),
                              system=one_of(STRING, array(OBJECT)), tools=array(OBJECT)),
    "Message": obj(("id", "type", "role", "content"), id=STRING, type=enum(["message"]), role=enum(["assistant"]),
                   content=array(OBJECT), model=STRING, stop_reason=nullable(STRING), usage=OBJECT),
}


def part() -> Part:
    return SCHEMAS, {
        "/v1/messages": {"post": operation("Anthropic Messages, in front of every provider", ERRORS, "Message",
                                           "MessagesRequest", streams=True)},
        "/v1/messages/count_tokens": {"post": operation("Count a Messages request's input tokens", ERRORS, None,
                                                        "CountTokensRequest")},
    }
