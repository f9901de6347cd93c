"""Anthropic Messages ↔ OpenAI chat completions, both directions, for requests and whole responses.

The same functions serve an Anthropic provider behind the OpenAI endpoints and the `/v1/messages`
endpoint in front of any provider. What cannot cross is a decision, named where it is made:
OpenAI's system messages anywhere → Anthropic's one top-level `system`; `temperature` above 1 →
1; `response_format` ↔ `output_config.format`; `seed`, `logprobs`, penalties and `logit_bias` have no
Anthropic counterpart and are dropped; Anthropic's `top_k` and `thinking` have no OpenAI counterpart and are
dropped; which stop sequence ended an OpenAI answer is unknown (`stop_sequence: null`).
"""

from __future__ import annotations

from typing import Any

import orjson

from core.errors import RequestError
from core.types import JSON

DEFAULT_MAX_TOKENS = 4096   # Anthropic requires max_tokens; every Claude 3+ model allows this many
OPENAI_USER_MAX = 64        # the longest `user` OpenAI takes (Claude Code's JSON user_id is ~150)

STOP_TO_OPENAI = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "pause_turn": "stop", "refusal": "content_filter", "model_context_window_exceeded": "length"}
STOP_TO_ANTHROPIC = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                     "function_call": "tool_use", "content_filter": "refusal"}
TOOL_CHOICE_TO_ANTHROPIC = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
TOOL_CHOICE_TO_OPENAI = {"auto": "auto", "none": "none", "any": "required"}
# Thinking ↔ reasoning effort: a budget's effort by its upper bound, an effort's budget, and adaptive
# thinking's effort (`output_config.effort`) as OpenAI names it.
EFFORT_BY_BUDGET = ((4096, "low"), (16384, "medium"))
BUDGET_BY_EFFORT = {"minimal": 0, "low": 2048, "medium": 8192, "high": 24576}
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
MIN_BUDGET = 1024                         # Anthropic's smallest thinking budget
# Fields that mean the same on both sides.
SAME_FIELDS = ("top_p", "stream")


# -- requests: OpenAI → Anthropic ----------------------------------------------------------------
def _image_block(url: str) -> JSON:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def unsupported(part: str, where: str) -> RequestError:
    return RequestError(f"{where}: {part} cannot be translated for this model's provider",
                        code="unsupported_content", param=where)


def _document_block(file: JSON, where: str) -> JSON:
    """A chat `file` part (its data inline, as a data URL) as an Anthropic `document` block."""
    data_url = file.get("file_data")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise unsupported("a file given by id (not inline as file_data)", where)
    header, _, data = data_url.partition(",")
    media_type = header.removeprefix("data:").split(";")[0] or "application/pdf"
    block: JSON = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _blocks_from_openai(content: Any, where: str = "messages") -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            blocks.append(_image_block(image if isinstance(image, str) else image.get("url", "")))
        elif kind == "file" and isinstance(part.get("file"), dict):
            blocks.append(_document_block(part["file"], f"{where}.content[{j}]"))
        else:
            raise unsupported(f"a {kind!r} content part", f"{where}.content[{j}]")
    return blocks


def _arguments(raw: Any, index: int) -> JSON:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise RequestError("tool_calls[].function.arguments must be a JSON object to reach an Anthropic model",
                           code="invalid_messages", param=f"messages[{index}].tool_calls")
    return value


def input_from_arguments(raw: Any) -> JSON:
    """An upstream's tool arguments as Anthropic's `input` object; text that is not a JSON object is
    kept under `_raw_arguments` rather than lost (models do emit broken JSON)."""
    try:
        return _arguments(raw, 0)
    except RequestError:
        return {"_raw_arguments": raw}


def _system_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content or () if part.get("type") == "text")


def merge_turns(messages: list[JSON]) -> list[JSON]:
    """Anthropic wants user and assistant to alternate: consecutive turns of one role become one."""
    merged: list[JSON] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1]["content"] = merged[-1]["content"] + message["content"]
        else:
            merged.append({"role": message["role"], "content": list(message["content"])})
    return merged


def request_to_anthropic(body: JSON, answer_tool: bool = False) -> JSON:
    """An OpenAI chat request as an Anthropic Messages request (model set by the caller). With
    `answer_tool`, structured output is asked as a tool the model must call (see `answers_by_tool`)."""
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise RequestError("n: an Anthropic model gives one choice per request; ask n times, or use n = 1",
                           code="unsupported_parameter", param="n")
    system: list[str] = []
    turns: list[JSON] = []
    for i, message in enumerate(body.get("messages") or ()):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_system_text(message.get("content")))
        elif role in ("tool", "function"):
            result = message.get("content")
            block: JSON = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or message.get("name", "")}
            if isinstance(result, str) and result.startswith(TOOL_ERROR):
                block |= {"content": result.removeprefix(TOOL_ERROR), "is_error": True}
            else:
                block["content"] = result if isinstance(result, str) else _blocks_from_openai(result, f"messages[{i}]")
            turns.append({"role": "user", "content": [block]})
        elif role == "assistant":
            blocks = _blocks_from_openai(message.get("content"), f"messages[{i}]")
            blocks += [{"type": "tool_use", "id": call["id"], "name": call["function"]["name"],
                        "input": _arguments(call["function"].get("arguments"), i)}
                       for call in message.get("tool_calls") or ()]
            turns.append({"role": "assistant", "content": blocks})
        else:
            turns.append({"role": "user", "content": _blocks_from_openai(message.get("content"), f"messages[{i}]")})
    out: JSON = {"messages": merge_turns(turns),
                 "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = "\n\n".join(system)
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    for field in SAME_FIELDS:
        if body.get(field) is not None:
            out[field] = body[field]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [{"name": t["function"]["name"], "description": t["function"].get("description", ""),
                         "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
                        for t in body["tools"] if t.get("type") == "function"]
        choice = body.get("tool_choice")
        if isinstance(choice, str) and choice in TOOL_CHOICE_TO_ANTHROPIC:
            out["tool_choice"] = dict(TOOL_CHOICE_TO_ANTHROPIC[choice])
        elif isinstance(choice, dict) and choice.get("type") == "function":
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
        if body.get("parallel_tool_calls") is False and out.get("tool_choice", {}).get("type") != "none":
            out.setdefault("tool_choice", {"type": "auto"})["disable_parallel_tool_use"] = True
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    output_format = _format_to_anthropic(body.get("response_format"))
    if output_format and answer_tool:
        out["tools"] = [*out.get("tools", ()), {"name": ANSWER_TOOL, "description": ANSWER_TOOL_DESCRIPTION,
                                                "input_schema": output_format["schema"]}]
        if not body.get("tools"):          # the client's own tools stay the model's to choose among
            out["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
    elif output_format:
        out["output_config"] = {"format": output_format}
    budget = min(BUDGET_BY_EFFORT.get(str(body.get("reasoning_effort")), 0), out["max_tokens"] - 1)
    if budget >= MIN_BUDGET:               # thinking takes no temperature but 1, and no forced tool
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        out.pop("temperature", None)
        if out.get("tool_choice", {}).get("type") in ("tool", "any"):
            out["tool_choice"] = {**out["tool_choice"], "type": "auto"}
            out["tool_choice"].pop("name", None)
    return out


# Structured output: OpenAI's `response_format` ↔ Anthropic's `output_config.format` (constrained
# decoding, strict by nature). `json_object` has no Anthropic twin: a schema that takes any object.
ANY_OBJECT: JSON = {"type": "object", "additionalProperties": True}


# Models from before Anthropic's structured output (Claude 2 and 3, Sonnet 4 and Opus 4) get a
# `response_format` as a tool they must call, whose input comes back as the message text.
BEFORE_STRUCTURED_OUTPUT = ("claude-2", "claude-instant", "claude-3", "claude-sonnet-4-0", "claude-sonnet-4-2025",
                            "claude-opus-4-0", "claude-opus-4-2025")
ANSWER_TOOL = "json_answer"
ANSWER_TOOL_DESCRIPTION = "Give your answer by calling this tool: its input is the answer, in the required schema."


def answers_by_tool(model: str, body: JSON) -> bool:
    """Whether structured output reaches `model` as a forced tool rather than `output_config.format`."""
    return model.startswith(BEFORE_STRUCTURED_OUTPUT) and _format_to_anthropic(body.get("response_format")) is not None


def _format_to_anthropic(response_format: Any) -> JSON | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return {"type": "json_schema", "schema": schema if isinstance(schema, dict) else ANY_OBJECT}
    if response_format.get("type") == "json_object":
        return {"type": "json_schema", "schema": ANY_OBJECT}
    return None


def _format_to_openai(output_config: Any, beta_format: Any) -> JSON | None:
    """`beta_format` is the top-level `output_format` of the structured-outputs beta, which Anthropic
    still serves (litellm sends it)."""
    output_format = output_config.get("format") if isinstance(output_config, dict) else None
    output_format = output_format or beta_format
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        return None
    schema = output_format.get("schema")
    if not isinstance(schema, dict) or schema == ANY_OBJECT:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


# -- requests: Anthropic → OpenAI ----------------------------------------------------------------
# Block types a translation to core's format drops by decision (no counterpart there); any other type
# it does not carry is refused, never dropped.
DROPPED = frozenset({"thinking", "redacted_thinking"})
CARRIED = frozenset({"text", "image", "tool_use", "tool_result", "document"})
DOCUMENT_SOURCES = frozenset({"base64", "text"})     # a URL or file id has no inline chat equivalent


def require_translatable(body: JSON) -> None:
    """Refuses a request whose content a translation to core's format would lose without a decision
    (a block type it does not carry): a 400 that names it, never a silent drop."""
    for i, turn in enumerate(body.get("messages") or ()):
        for j, block in enumerate(turn["content"] if isinstance(turn.get("content"), list) else ()):
            where = f"messages[{i}].content[{j}]"
            if block["type"] not in CARRIED | DROPPED:
                raise RequestError(f"{where}: a {block['type']!r} content block cannot be translated for this "
                                   "model's provider; only an Anthropic model takes it",
                                   code="unsupported_content", param=where)
            if block["type"] == "document" and block["source"]["type"] not in DOCUMENT_SOURCES:
                raise unsupported(f"a document from a {block['source']['type']!r} source", where)


def _openai_parts(blocks: list[JSON]) -> str | list[JSON]:
    parts: list[JSON] = []
    for block in blocks:
        if block.get("type") == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif block.get("type") == "image":
            source = block.get("source", {})
            url = source.get("url") if source.get("type") == "url" else \
                f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif block.get("type") == "document":
            parts.append(_file_part(block))
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _file_part(document: JSON) -> JSON:
    """An Anthropic `document` as a chat part: a PDF or other base64 source as a `file` part, a plain
    text source as text (require_translatable has refused the sources OpenAI cannot take)."""
    source = document["source"]
    if source["type"] == "text":
        return {"type": "text", "text": source.get("data", "")}
    file = {"file_data": f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}",
            "filename": document.get("title") or "document.pdf"}
    return {"type": "file", "file": file}


# A failed tool's result: Anthropic flags it (`is_error`), OpenAI has no field for it, so the flag
# travels as this prefix of the tool message's text, which a model reads as plainly as the flag and
# which comes back as the flag when the conversation returns to Anthropic.
TOOL_ERROR = "Error: "


def _tool_result_text(result: JSON) -> str:
    content = result.get("content")
    text = content if isinstance(content, str) else "".join(
        b.get("text", "") for b in content or () if b.get("type") == "text")
    return TOOL_ERROR + text.removeprefix(TOOL_ERROR) if result.get("is_error") else text


def request_to_openai(body: JSON) -> JSON:
    """An Anthropic Messages request as an OpenAI chat request, keeping `model`."""
    messages: list[JSON] = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": _system_text(system)})
    for turn in body.get("messages") or ():
        content = turn.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
        if turn.get("role") == "system":      # a mid-conversation system turn stays where it was
            messages.append({"role": "system", "content": _system_text(blocks)})
            continue
        if turn.get("role") == "assistant":
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"], "arguments": orjson.dumps(b.get("input", {})).decode()}}
                     for b in blocks if b.get("type") == "tool_use"]
            message: JSON = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
            continue
        messages += [{"role": "tool", "tool_call_id": b.get("tool_use_id", ""),
                      "content": _tool_result_text(b)}
                     for b in blocks if b.get("type") == "tool_result"]
        rest = [b for b in blocks if b.get("type") != "tool_result"]
        if rest:
            messages.append({"role": "user", "content": _openai_parts(rest)})
    out: JSON = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    for field in ("temperature", *SAME_FIELDS):
        if body.get(field) is not None:
            out[field] = body[field]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("tools"):
        out["tools"] = [{"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                                          "parameters": t.get("input_schema", {})}}
                        for t in body["tools"] if "name" in t]
        choice = body.get("tool_choice") or {}
        if choice.get("type") in TOOL_CHOICE_TO_OPENAI:
            out["tool_choice"] = TOOL_CHOICE_TO_OPENAI[choice["type"]]
        elif choice.get("type") == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        if choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    user = (body.get("metadata") or {}).get("user_id")
    if user and len(user) <= OPENAI_USER_MAX:       # a longer one would make OpenAI refuse the request
        out["user"] = user
    if response_format := _format_to_openai(body.get("output_config"), body.get("output_format")):
        out["response_format"] = response_format
    if effort := _effort(body.get("thinking"), body.get("output_config")):
        out["reasoning_effort"] = effort       # sent only to a reasoning model (core.checks.for_model)
    return out


def _effort(thinking: Any, output_config: Any) -> str | None:
    if not isinstance(thinking, dict):
        return None
    if thinking.get("type") == "adaptive":
        asked = output_config.get("effort") if isinstance(output_config, dict) else None
        return EFFORTS.get(str(asked), "medium")
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int):
        return None
    return next((effort for bound, effort in EFFORT_BY_BUDGET if budget <= bound), "high")


# -- responses -----------------------------------------------------------------------------------
def usage_to_openai(usage: JSON) -> JSON:
    """Anthropic's usage in OpenAI's words: cache reads and writes are prompt tokens; reads are
    OpenAI's `cached_tokens`, writes (no OpenAI word) the gateway's `cache_write_tokens` beside them,
    when there are any."""
    cached, written = usage.get("cache_read_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + written + cached
    completion = usage.get("output_tokens") or 0
    details = {"cached_tokens": cached, **({"cache_write_tokens": written} if written else {})}
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": details}


def usage_to_anthropic(usage: JSON | None) -> JSON:
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    cached, written = details.get("cached_tokens") or 0, details.get("cache_write_tokens") or 0
    return {"input_tokens": (usage.get("prompt_tokens") or 0) - cached - written,
            "output_tokens": usage.get("completion_tokens") or 0,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": written}


def response_to_openai(message: JSON, created: int, answer_tool: bool = False) -> JSON:
    """An Anthropic message as an OpenAI chat completion; with `answer_tool`, a call to the answer
    tool is the message's text (structured output asked as a tool)."""
    blocks = message.get("content") or []
    answered = [b for b in blocks if answer_tool and b.get("type") == "tool_use" and b.get("name") == ANSWER_TOOL]
    text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    text = orjson.dumps(answered[0].get("input", {})).decode() if answered else text
    calls = [{"id": b["id"], "type": "function",
              "function": {"name": b["name"], "arguments": orjson.dumps(b.get("input", {})).decode()}}
             for b in blocks if b.get("type") == "tool_use" and b not in answered]
    reply: JSON = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    stop = message.get("stop_reason") or "end_turn"
    return {
        "id": message.get("id", ""), "object": "chat.completion", "created": created, "model": message.get("model", ""),
        "choices": [{"index": 0, "message": reply, "logprobs": None,
                     "finish_reason": "stop" if answered and not calls else STOP_TO_OPENAI.get(stop, "stop")}],
        "usage": usage_to_openai(message.get("usage") or {}),
    }


def response_to_anthropic(completion: JSON) -> JSON:
    """An OpenAI chat completion (its first choice) as an Anthropic message."""
    choice = (completion.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    blocks: list[JSON] = []
    if reply.get("content"):
        blocks.append({"type": "text", "text": reply["content"]})
    for i, call in enumerate(reply.get("tool_calls") or ()):
        blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_{i}", "name": call["function"]["name"],
                       "input": input_from_arguments(call["function"].get("arguments"))})
    message_id = str(completion.get("id") or "")
    return {
        "id": message_id if message_id.startswith("msg_") else f"msg_{message_id}",
        "type": "message", "role": "assistant", "model": completion.get("model", ""), "content": blocks,
        "stop_reason": STOP_TO_ANTHROPIC.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": usage_to_anthropic(completion.get("usage")),
    }
