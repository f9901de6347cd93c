"""The demo provider: answers in-process, in core's format, so the gateway can be tried with no
provider key. Every endpoint gets an answer of the right shape (text, tool calls that fit the
tool's schema, JSON that fits `response_format`, embeddings, images), each saying it is demo
output. It is an adapter like any other, so usage, limits, cache and fallback apply to it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import zlib
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import orjson

from core.config import ProviderConfig
from core.errors import UpstreamRejected
from core.tokens import prompt_texts
from core.types import EMBEDDINGS, IMAGES, JSON

NOTICE = ("This answer comes from Apex Gateway's demo provider: no provider key is set, so no model wrote "
          "it. Set one (OPENAI_API_KEY, ANTHROPIC_API_KEY, …) and restart for real answers.")
FINGERPRINT = "apex-demo"
EMBEDDING_DIMENSIONS = 1536
MAX_IMAGES = 10
QUOTED = 80                   # characters of the client's message quoted back
SCHEMA_DEPTH = 8              # how deep an example value follows a schema's nesting
# Example values by JSON Schema type, for arguments and structured answers that fit their schema.
EXAMPLES: dict[str, Any] = {"string": "demo", "integer": 1, "number": 1.5, "boolean": True, "null": None}


def estimate_tokens(text: str) -> int:
    """About four characters a token: the demo has no tokenizer to be exact with, nor a need to be."""
    return max(1, (len(text) + 3) // 4) if text else 0


def example(schema: Any, depth: int = 0) -> Any:
    """A value that fits `schema` (the common subset: type, enum, const, properties, items, anyOf)."""
    if not isinstance(schema, dict) or depth > SCHEMA_DEPTH:
        return "demo"
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for union in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(union), list) and schema[union]:
            return example(schema[union][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: example(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        return [example(schema.get("items"), depth + 1)] if schema.get("minItems") else []
    return EXAMPLES.get(kind, "demo") if isinstance(kind, str) else "demo"


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _quoted(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTED else flat[:QUOTED - 1] + "…"


def _chosen_tool(body: JSON) -> JSON | None:
    """The function tool the demo calls: the one `tool_choice` names, else the first — unless the
    last message already answers a call (then the demo replies in text) or `tool_choice` is none."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    messages = body.get("messages") or []
    choice = body.get("tool_choice")
    if not tools or choice == "none" or (messages and isinstance(messages[-1], dict)
                                         and messages[-1].get("role") == "tool"):
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        named = choice["function"].get("name")
        return next((t["function"] for t in tools if t["function"].get("name") == named), tools[0]["function"])
    return tools[0]["function"]


def _reply(body: JSON) -> tuple[str | None, JSON | None]:
    """(text, tool call) the demo answers with."""
    if (tool := _chosen_tool(body)) is not None:
        arguments = example(tool.get("parameters") or {"type": "object"})
        call = {"id": "call_demo_" + hashlib.sha256(orjson.dumps(arguments)).hexdigest()[:16], "type": "function",
                "function": {"name": str(tool.get("name") or ""), "arguments": orjson.dumps(arguments).decode()}}
        return None, call
    form = body.get("response_format")
    form = form if isinstance(form, dict) else {}
    if form.get("type") == "json_schema":
        schema = (form.get("json_schema") or {}).get("schema") if isinstance(form.get("json_schema"), dict) else None
        return orjson.dumps(example(schema or {"type": "object"})).decode(), None
    if form.get("type") == "json_object":
        return orjson.dumps({"demo": True, "notice": NOTICE}).decode(), None
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    if last.get("role") == "tool":
        return f"[demo] The tool answered: “{_quoted(str(last.get('content') or ''))}”. {NOTICE}", None
    said = _last_user_text(messages)
    heard = f"You said: “{_quoted(said)}”. " if said else ""
    return f"[demo] Hello! {heard}{NOTICE}", None


def _usage(body: JSON, text: str | None, call: JSON | None) -> JSON:
    prompt = sum(estimate_tokens(t) for t in prompt_texts(body)) + 3 * len(body.get("messages") or ())
    completion = estimate_tokens(text or "") + (estimate_tokens(call["function"]["arguments"]) if call else 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _pieces(text: str) -> Iterator[str]:
    """The text in word-sized pieces, as a model streams it."""
    start = 0
    for i, char in enumerate(text):
        if char == " " and i > start:
            yield text[start:i]
            start = i
    if start < len(text):
        yield text[start:]


def _vector(text: str, dimensions: int) -> list[float]:
    """A unit vector drawn from the text's hash: the same text always gets the same vector."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] ^ (i * 131 % 256)) - 127.5) / 127.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _png(seed: bytes, size: int = 64) -> bytes:
    """A small one-colour PNG, its colour taken from the prompt: a real image, made without a library."""
    row = b"\x00" + bytes(seed[:3]) * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size))
            + chunk(b"IEND", b""))


class DemoAdapter:
    """Chat (buffered and streamed), embeddings and images, answered here; the Messages and
    Responses APIs reach it through the gateway's translation, as they reach any chat provider."""

    serves = frozenset({EMBEDDINGS, IMAGES})

    def __init__(self, name: str, config: ProviderConfig, key: str | None = None) -> None:
        self.name = name

    def _chunk(self, model: str, request_id: str, created: int, delta: JSON, finish: str | None = None) -> JSON:
        return {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    async def chat(self, model: str, body: JSON) -> JSON:
        text, call = _reply(body)
        message: JSON = {"role": "assistant", "content": text, "refusal": None}
        if call is not None:
            message["tool_calls"] = [call]
        return {"id": f"chatcmpl-demo{time.time_ns():x}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "system_fingerprint": FINGERPRINT,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if call is not None else "stop"}],
                "usage": _usage(body, text, call)}

    async def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        text, call = _reply(body)
        request_id, created = f"chatcmpl-demo{time.time_ns():x}", int(time.time())
        yield self._chunk(model, request_id, created, {"role": "assistant", "content": ""})
        if call is not None:
            head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
            yield self._chunk(model, request_id, created, {"tool_calls": [{"index": 0, **head}]})
            for piece in _pieces(call["function"]["arguments"]):
                yield self._chunk(model, request_id, created,
                                  {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        for piece in _pieces(text or ""):
            yield self._chunk(model, request_id, created, {"content": piece})
        yield self._chunk(model, request_id, created, {}, "tool_calls" if call is not None else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**self._chunk(model, request_id, created, {}), "choices": [], "usage": _usage(body, text, call)}

    async def embeddings(self, model: str, body: JSON) -> JSON:
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)) \
            else raw if isinstance(raw, list) else []
        asked = body.get("dimensions")
        dimensions = asked if isinstance(asked, int) else EMBEDDING_DIMENSIONS
        if not inputs or not 0 < dimensions <= 8192:
            raise UpstreamRejected("input must be a string or an array of strings or tokens, and dimensions "
                                   "1 to 8192", status=400, code="invalid_value", param="input", provider=self.name)
        data = []
        for i, item in enumerate(inputs):
            vector = _vector(item if isinstance(item, str) else orjson.dumps(item).decode(), dimensions)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(estimate_tokens(i if isinstance(i, str) else " " * 4 * len(i)) for i in inputs)
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    async def images(self, model: str, body: JSON) -> JSON:
        prompt = str(body.get("prompt") or "")
        asked = body.get("n")
        count = asked if isinstance(asked, int) else 1
        if not 1 <= count <= MAX_IMAGES:
            raise UpstreamRejected(f"n must be between 1 and {MAX_IMAGES}", status=400, code="invalid_value",
                                   param="n", provider=self.name)
        image = base64.b64encode(_png(hashlib.sha256(prompt.encode()).digest())).decode()
        shown = f"[demo] A plain square in place of “{_quoted(prompt)}”. {NOTICE}"
        if body.get("response_format") == "url":
            entry: JSON = {"url": f"data:image/png;base64,{image}", "revised_prompt": shown}
        else:
            entry = {"b64_json": image, "revised_prompt": shown}
        return {"created": int(time.time()), "data": [entry] * count}

    async def aclose(self) -> None:
        return None
