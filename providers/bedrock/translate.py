"""OpenAI chat ↔ Bedrock's Converse API, and ConverseStream events → OpenAI chunks.

Decisions: system and developer messages join Converse's `system`; images must be base64 (Converse
takes bytes or S3, never an HTTP URL: such an image is refused with 400); `tool_choice: "none"`
sends no tools; `n`, `seed`, `logprobs`, penalties and `response_format` have no Converse
counterpart and are dropped; `max_tokens` is left to the model's default when absent.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from core.errors import RequestError
from core.types import JSON
from providers.anthropic.translate import input_from_arguments, merge_turns, unsupported

STOP_TO_OPENAI = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                  "content_filtered": "content_filter", "guardrail_intervened": "content_filter"}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}


def _image(url: str) -> JSON:
    header, _, data = url.partition(",")
    media_type = header.removeprefix("data:").split(";")[0]
    if not url.startswith("data:") or media_type not in IMAGE_FORMATS:
        raise RequestError("Bedrock takes images as base64 data URLs (png, jpeg, gif, webp), not links",
                           code="unsupported_content", param="messages")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise RequestError("an image data URL is not valid base64", code="invalid_messages", param="messages") from None
    return {"image": {"format": IMAGE_FORMATS[media_type], "source": {"bytes": raw}}}


# What Converse takes as a document, by media type.
DOCUMENT_FORMATS = {"application/pdf": "pdf", "text/plain": "txt", "text/csv": "csv", "text/html": "html",
                    "text/markdown": "md", "application/msword": "doc", "application/vnd.ms-excel": "xls",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}


def _document(file: JSON, where: str) -> JSON:
    """A chat `file` part as a Converse document: inline data only, of a format Converse reads."""
    data_url = file.get("file_data")
    media_type = data_url.partition(",")[0].removeprefix("data:").split(";")[0] if isinstance(data_url, str) else ""
    if not isinstance(data_url, str) or not data_url.startswith("data:") or media_type not in DOCUMENT_FORMATS:
        raise unsupported("a file that is not inline data of a format Bedrock reads (pdf, txt, csv, html, md, "
                          "doc, docx, xls, xlsx)", where)
    try:
        raw = base64.b64decode(data_url.partition(",")[2], validate=True)
    except binascii.Error:
        raise RequestError("a file data URL is not valid base64", code="invalid_messages", param=where) from None
    name = re.sub(r"[^A-Za-z0-9 ()\[\]-]+", " ", str(file.get("filename") or "document").rsplit(".", 1)[0]).strip()
    return {"document": {"format": DOCUMENT_FORMATS[media_type], "name": name or "document", "source": {"bytes": raw}}}


def _blocks(content: Any, where: str = "messages") -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks = []
    for j, part in enumerate(content):
        if part.get("type") == "text":
            blocks.append({"text": part.get("text", "")})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            blocks.append(_image(image if isinstance(image, str) else image.get("url", "")))
        elif part.get("type") == "file" and isinstance(part.get("file"), dict):
            blocks.append(_document(part["file"], f"{where}.content[{j}]"))
        else:
            raise unsupported(f"a {part.get('type')!r} content part", f"{where}.content[{j}]")
    return blocks


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def request_to_converse(body: JSON, model: str) -> JSON:
    system: list[JSON] = []
    turns: list[JSON] = []
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            system.append({"text": _text(message.get("content"))})
        elif role in ("tool", "function"):
            turns.append({"role": "user", "content": [{"toolResult": {
                "toolUseId": message.get("tool_call_id") or message.get("name", ""),
                "content": [{"text": _text(message.get("content"))}]}}]})
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            blocks += [{"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"],
                                    "input": input_from_arguments(call["function"].get("arguments"))}}
                       for call in message.get("tool_calls") or ()]
            turns.append({"role": "assistant", "content": blocks})
        else:
            turns.append({"role": "user", "content": _blocks(message.get("content"))})
    request: JSON = {"modelId": model, "messages": merge_turns(turns)}
    if system:
        request["system"] = system
    config: JSON = {}
    if (limit := body.get("max_completion_tokens") or body.get("max_tokens")) is not None:
        config["maxTokens"] = limit
    for source, target in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(source) is not None:
            config[target] = body[source]
    if stop := body.get("stop"):
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        request["inferenceConfig"] = config
    choice = body.get("tool_choice")
    if body.get("tools") and choice != "none":
        tools: JSON = {"tools": [{"toolSpec": {"name": t["function"]["name"],
                                         "description": t["function"].get("description") or t["function"]["name"],
                                         "inputSchema": {"json": t["function"].get("parameters")
                                                         or {"type": "object", "properties": {}}}}}
                           for t in body["tools"] if t.get("type") == "function"]}
        if choice == "required":
            tools["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and choice.get("type") == "function":
            tools["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        elif choice == "auto":
            tools["toolChoice"] = {"auto": {}}
        request["toolConfig"] = tools
    return request


def usage_to_openai(usage: JSON) -> JSON:
    prompt, completion = usage.get("inputTokens") or 0, usage.get("outputTokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": usage.get("totalTokens") or prompt + completion,
            "prompt_tokens_details": {"cached_tokens": usage.get("cacheReadInputTokens") or 0}}


def response_to_openai(answer: JSON, model: str, created: int, request_id: str) -> JSON:
    blocks = ((answer.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(b["text"] for b in blocks if "text" in b)
    calls = [{"id": b["toolUse"]["toolUseId"], "type": "function",
              "function": {"name": b["toolUse"]["name"], "arguments": orjson.dumps(b["toolUse"].get("input")).decode()}}
             for b in blocks if "toolUse" in b]
    message: JSON = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": STOP_TO_OPENAI.get(answer.get("stopReason") or "end_turn", "stop")}],
            "usage": usage_to_openai(answer.get("usage") or {})}


class StreamChunks:
    """ConverseStream events in, OpenAI chunks out."""

    def __init__(self, model: str, created: int, request_id: str, include_usage: bool) -> None:
        self._base = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": created,
                      "model": model}
        self._include_usage = include_usage
        self._tools: dict[int, int] = {}       # content block index → tool_calls index

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        return {**self._base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                           "finish_reason": finish_reason}]}

    def feed(self, event: JSON) -> list[JSON]:
        if "messageStart" in event:
            return [self._chunk({"role": "assistant", "content": ""})]
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = (start.get("start") or {}).get("toolUse")
            if tool is None:
                return []
            index = self._tools[start.get("contentBlockIndex", 0)] = len(self._tools)
            return [self._chunk({"tool_calls": [{"index": index, "id": tool["toolUseId"], "type": "function",
                                                 "function": {"name": tool["name"], "arguments": ""}}]})]
        if "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": delta["text"]})]
            if "toolUse" in delta and block.get("contentBlockIndex", 0) in self._tools:
                index = self._tools[block.get("contentBlockIndex", 0)]
                return [self._chunk({"tool_calls": [{"index": index,
                                                     "function": {"arguments": delta["toolUse"].get("input", "")}}]})]
            return []
        if "messageStop" in event:
            reason = event["messageStop"].get("stopReason") or "end_turn"
            return [self._chunk({}, STOP_TO_OPENAI.get(reason, "stop"))]
        if "metadata" in event and self._include_usage:
            usage = event["metadata"].get("usage") or {}
            return [{**self._base, "choices": [], "usage": usage_to_openai(usage)}]
        return []
