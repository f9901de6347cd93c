"""A Responses request's input items, checked and stored, and the chat request that answers it.

Messages, function calls and their outputs, and custom tool calls and theirs become chat messages.
Items with no chat counterpart are kept in the stored conversation and left out of the chat request:
`reasoning` (sent only to the provider that made it), `additional_tools` (their tools join the
request's), the items of hosted tools (web search calls, …) and compaction items this gateway did
not make; each kind left out is named in the `x-apex-dropped-items` header. A `compaction_trigger`
asks for the conversation's summary (see `compaction`); an `item_reference` is resolved from the
stored conversation.
"""

from __future__ import annotations

from typing import Any

import orjson

from core.errors import RequestError, shown
from core.shapes import ARRAY, BOOL, INT, NUMBER, OBJECT, STR, Shape, check, parts
from core.types import JSON
from providers.responses.compaction import SUMMARY_REQUEST, summary_of
from providers.responses.ids import new_id
from providers.responses.tools import Tools, chat_name

ROLES = frozenset({"user", "system", "developer", "assistant"})
# The shapes of what the translation to chat reads.
FIELDS: Shape = {"tools": (ARRAY, False), "tool_choice": ((STR, OBJECT), False), "temperature": (NUMBER, False),
                 "top_p": (NUMBER, False), "max_output_tokens": (INT, False), "parallel_tool_calls": (BOOL, False),
                 "user": (STR, False), "text": (OBJECT, False), "reasoning": (OBJECT, False)}
TEXT_PART: Shape = {"text": (STR, True)}
PARTS: dict[str, Shape] = {"input_text": TEXT_PART, "output_text": TEXT_PART, "text": TEXT_PART,
                           "input_image": {"image_url": (STR, False), "file_id": (STR, False), "detail": (STR, False)},
                           "input_file": {"file_data": (STR, False), "filename": (STR, False)}}
CARRIED = frozenset({"message", "function_call", "function_call_output", "custom_tool_call",
                     "custom_tool_call_output"})
# Items kept in the conversation that a chat request has no place for.
KEPT = frozenset({"reasoning", "additional_tools", "compaction", "compaction_trigger", "web_search_call",
                  "file_search_call", "image_generation_call", "code_interpreter_call", "computer_call",
                  "computer_call_output", "local_shell_call", "local_shell_call_output", "mcp_call", "mcp_list_tools",
                  "mcp_approval_request", "mcp_approval_response", "tool_search_call", "tool_search_output",
                  "configuration_update", "context_compaction"})
SILENT = frozenset({"additional_tools", "compaction_trigger", "reasoning"})   # left out by design, not news
# What each carried item must have (beyond its type).
ITEM_SHAPES: dict[str, Shape] = {
    "function_call": {"call_id": (STR, True), "name": (STR, True), "arguments": (STR, False),
                      "namespace": (STR, False)},
    "function_call_output": {"call_id": (STR, True)},
    "custom_tool_call": {"call_id": (STR, True), "name": (STR, True), "input": (STR, True), "namespace": (STR, False)},
    "custom_tool_call_output": {"call_id": (STR, True)},
    "additional_tools": {"tools": (ARRAY, True)},
    "item_reference": {"id": (STR, True)},
}


def _invalid(message: str, param: str = "input") -> RequestError:
    return RequestError(message, code="invalid_input", param=param)


def _content_parts(content: Any, role: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "output_text" if role == "assistant" else "input_text", "text": content,
                 **({"annotations": []} if role == "assistant" else {})}]
    return list(content)


def input_items(body: JSON) -> list[JSON]:
    """The request's `input` as stored items, each with an id (what input_items lists)."""
    if body.get("conversation") is not None:
        raise RequestError("conversation: the Conversations API is not served here; continue a conversation with "
                           "previous_response_id", code="unsupported_parameter", param="conversation")
    raw = body.get("input")
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise _invalid("input must be a string or a non-empty array of input items")
    return [_item(item, f"input[{i}]") for i, item in enumerate(raw)]


def _item(item: Any, path: str) -> JSON:
    if not isinstance(item, dict):
        raise _invalid(f"{path} must be an object", path)
    kind = item.get("type", "message")
    if not isinstance(kind, str) or kind not in CARRIED | KEPT | {"item_reference"}:
        raise _invalid(f"{path}: item type {shown(kind)} is not supported", path)
    if kind in ITEM_SHAPES:
        check(item, path, ITEM_SHAPES[kind])
    if kind == "message":
        if not isinstance(item.get("role"), str) or item["role"] not in ROLES \
                or not isinstance(item.get("content"), str | list):
            raise _invalid(f"{path} needs a role ({', '.join(sorted(ROLES))}) and content", path)
        if isinstance(item["content"], list):
            parts(item["content"], f"{path}.content", PARTS)
        return {"id": item.get("id") or new_id("msg"), "type": "message", "role": item["role"],
                "content": _content_parts(item["content"], item["role"]), "status": "completed"}
    if kind == "function_call":
        return {"id": item.get("id") or new_id("fc"), "type": "function_call", "call_id": item["call_id"],
                "name": item["name"], "arguments": item.get("arguments", ""), "status": "completed",
                **({"namespace": item["namespace"]} if item.get("namespace") else {})}
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output", "")
        return {"id": item.get("id") or new_id("fco"), "type": kind, "call_id": item["call_id"],
                "output": output if isinstance(output, str | list) else orjson.dumps(output).decode()}
    return {**item, "id": item.get("id") or new_id("item"), "type": kind}


# -- the chat request ------------------------------------------------------------------------------------
def _chat_content(parts: list[JSON], path: str) -> str | list[JSON]:
    converted: list[JSON] = []
    for part in parts:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            converted.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_file":
            if not isinstance(part.get("file_data"), str):
                raise RequestError("an input_file given by id or URL (not inline as file_data) cannot be sent to a "
                                   "chat model", code="unsupported_content", param=path)
            converted.append({"type": "file", "file": {"file_data": part["file_data"],
                                                       "filename": part.get("filename") or "document.pdf"}})
        elif kind == "input_image":
            if not isinstance(part.get("image_url"), str):
                raise RequestError("an input_image given by file_id (not as image_url) cannot be sent to a chat "
                                   "model", code="unsupported_content", param=path)
            converted.append({"type": "image_url", "image_url": {"url": part["image_url"],
                                                                 **({"detail": part["detail"]} if part.get("detail")
                                                                    else {})}})
    if all(p["type"] == "text" for p in converted):
        return "".join(p["text"] for p in converted)
    return converted


def _output_text(output: Any) -> str:
    """A tool's output as a chat tool message's text: its text parts, or its JSON when it has others."""
    if isinstance(output, str):
        return output
    if all(isinstance(p, dict) and p.get("type") in ("input_text", "output_text") for p in output):
        return "".join(p.get("text", "") for p in output)
    return orjson.dumps(output).decode()


def _call(call_id: str, name: str, arguments: str) -> JSON:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def items_to_messages(items: list[JSON], dropped: list[str]) -> list[JSON]:
    """Conversation items as chat messages: tool calls join the assistant turn they follow. The kinds
    of item left out are added to `dropped`."""
    messages: list[JSON] = []
    for i, item in enumerate(items):
        kind = item["type"]
        call: JSON | None = None
        if kind == "message":
            messages.append({"role": item["role"], "content": _chat_content(item["content"], f"input[{i}]")})
        elif kind == "function_call":
            call = _call(item["call_id"], chat_name(item["name"], item.get("namespace")), item.get("arguments", ""))
        elif kind == "custom_tool_call":
            call = _call(item["call_id"], chat_name(item["name"], item.get("namespace")),
                         orjson.dumps({"input": item["input"]}).decode())
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": _output_text(item["output"])})
        elif kind == "compaction" and (summary := summary_of(item)) is not None:
            messages.append({"role": "user", "content": summary})
        elif kind not in SILENT and kind not in dropped:
            dropped.append(kind)
        if call is not None:
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    return messages


def resolve_references(items: list[JSON], stored: list[JSON]) -> list[JSON]:
    """`item_reference` items replaced by the stored items they name."""
    if not any(item["type"] == "item_reference" for item in items):
        return items
    by_id = {item.get("id"): item for item in stored}
    resolved = []
    for i, item in enumerate(items):
        if item["type"] == "item_reference":
            if item["id"] not in by_id:
                raise _invalid(f"input[{i}]: no item with id {shown(item['id'])} in this conversation", f"input[{i}]")
            item = by_id[item["id"]]
        resolved.append(item)
    return resolved


def native_request(body: JSON, history: list[JSON]) -> JSON:
    """The request for an upstream that serves the Responses API: as sent, or, continuing a stored
    conversation, with that conversation before its input (the upstream may never have seen it: it was
    answered elsewhere, or not stored there). The gateway's own item ids are left out (an upstream
    refuses ids it did not make), but for reasoning items, which are the upstream's own; a summary
    this gateway made becomes a message again."""
    if not history:
        return body
    raw = body["input"]
    expanded = [_for_upstream(item) for item in resolve_references(history, history)]
    return {**{k: v for k, v in body.items() if k != "previous_response_id"},
            "input": [*expanded, *([{"role": "user", "content": raw}] if isinstance(raw, str) else raw)]}


def _for_upstream(item: JSON) -> JSON:
    if item["type"] == "compaction" and (summary := summary_of(item)) is not None:
        return {"role": "user", "content": summary}
    return item if item["type"] == "reasoning" else {k: v for k, v in item.items() if k != "id"}


def to_chat(body: JSON, items: list[JSON], tools: Tools, compacting: bool, dropped: list[str]) -> JSON:
    """The chat request that answers this response: instructions, the whole conversation, its tools."""
    check(body, "", FIELDS)
    if isinstance(body.get("text"), dict):
        check(body["text"], "text", {"format": (OBJECT, False), "verbosity": (STR, False)})
    messages = items_to_messages(items, dropped)
    if not any(m["role"] != "system" for m in messages) and not compacting:
        raise _invalid("input: none of its items is one a chat model can answer (a message or a tool's output)")
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    if compacting:
        messages.append({"role": "user", "content": SUMMARY_REQUEST})
    chat: JSON = {"model": body["model"], "messages": messages}
    if tools.chat and not compacting:
        chat["tools"] = tools.chat
        if (choice := tools.choice(body.get("tool_choice"))) is not None:
            chat["tool_choice"] = choice
    elif body.get("tool_choice") not in (None, "auto", "none"):
        tools.choice(body["tool_choice"])          # a hosted tool required: refused, naming it
    for source, target in (("temperature", "temperature"), ("top_p", "top_p"), ("max_output_tokens", "max_tokens"),
                           ("parallel_tool_calls", "parallel_tool_calls"), ("user", "user")):
        if body.get(source) is not None:
            chat[target] = body[source]
    if "tools" not in chat:
        chat.pop("parallel_tool_calls", None)       # OpenAI refuses it without tools
    if isinstance(effort := (body.get("reasoning") or {}).get("effort"), str):
        chat["reasoning_effort"] = effort           # a reasoning model's own; Anthropic's thinking
    if isinstance(verbosity := (body.get("text") or {}).get("verbosity"), str):
        chat["verbosity"] = verbosity
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema" and not compacting:
        chat["response_format"] = {"type": "json_schema", "json_schema": {
            k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format}}
    elif text_format.get("type") == "json_object" and not compacting:
        chat["response_format"] = {"type": "json_object"}
    return chat
