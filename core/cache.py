"""The response cache: an identical chat request from the same key within `cache_ttl_s` is answered
from DynamoDB without an upstream call — buffered or as a well-formed stream.

Identical means the same normalized body (keys sorted; `stream` and `stream_options` aside, so a
stream and a buffered request share an entry) from the same key. Not cached: failed answers,
requests with `Cache-Control: no-cache` or `no-store`, and requests with `temperature` > 0 (absent
means OpenAI's default, 1) unless `[gateway] cache_nondeterministic`. An entry too large for one
DynamoDB item is skipped, never cut; a stream is given up on once its text is so long that it cannot
fit, so a long stream is never held in memory whole.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from core.storage.dynamo import DynamoDB
from core.types import JSON

MAX_ENTRY_BYTES = 350_000
MAX_ASSEMBLED_CHARS = 4 * MAX_ENTRY_BYTES     # text compresses about 3 to 1: past this, an entry cannot fit
NOT_IN_KEY = ("stream", "stream_options")


class ResponseCache:
    def __init__(self, db: DynamoDB, ttl_s: int, nondeterministic: bool) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._nondeterministic = nondeterministic

    def key(self, key_id: str, body: JSON, headers: Mapping[str, str]) -> str | None:
        """The entry's name, or None when this request must not use the cache."""
        if not self._ttl_s:
            return None
        control = headers.get("cache-control", "").lower()
        if "no-cache" in control or "no-store" in control:
            return None
        temperature = body.get("temperature", 1)
        if not self._nondeterministic and (not isinstance(temperature, int | float) or temperature > 0):
            return None
        normalized = orjson.dumps({k: v for k, v in body.items() if k not in NOT_IN_KEY},
                                  option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(key_id.encode() + b"\0" + normalized).hexdigest()

    async def get(self, name: str) -> JSON | None:
        found = await self._db.call("get_item", TableName=self._db.names["cache"], Key={"pk": {"S": name}})
        item = found.get("Item")
        if item is None or int(item["expires_at"]["N"]) <= time.time():   # TTL deletes lazily
            return None
        return dict(orjson.loads(zlib.decompress(item["body"]["B"])))

    async def put(self, name: str, completion: JSON) -> bool:
        blob = zlib.compress(orjson.dumps(completion), 6)
        if len(blob) > MAX_ENTRY_BYTES:
            return False
        await self._db.call("put_item", TableName=self._db.names["cache"], Item={
            "pk": {"S": name}, "body": {"B": blob}, "expires_at": {"N": str(int(time.time()) + self._ttl_s)}})
        return True


class Assembled:
    """A streamed chat completion put back together from its chunks (to be cached whole), until it
    is too long to be cached at all."""

    def __init__(self) -> None:
        self._head: JSON = {}
        self._choices: dict[int, JSON] = {}
        self._usage: JSON | None = None
        self._size = 0
        self.too_large = False

    def feed(self, chunk: JSON) -> None:
        if self.too_large:
            return
        if not self._head:
            self._head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            entry = self._choices.setdefault(index, {"content": [], "finish_reason": None})
            delta = choice.get("delta") or {}
            if content := delta.get("content"):
                entry["content"].append(content)
                self._size += len(content)
            for call in delta.get("tool_calls") or ():
                calls = entry.setdefault("tool_calls", {})
                slot = calls.setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                              "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
                self._size += len(function.get("arguments") or "")
            if choice.get("finish_reason"):
                entry["finish_reason"] = choice["finish_reason"]
        if self._size > MAX_ASSEMBLED_CHARS:
            self.too_large = True
            self._choices.clear()

    def completion(self) -> JSON:
        choices = []
        for index in sorted(self._choices):
            entry = self._choices[index]
            message: dict[str, Any] = {"role": "assistant", "content": "".join(entry["content"]) or None}
            if "tool_calls" in entry:
                message["tool_calls"] = [entry["tool_calls"][i] for i in sorted(entry["tool_calls"])]
            choices.append({"index": index, "message": message, "logprobs": None,
                            "finish_reason": entry["finish_reason"]})
        return {**self._head, "object": "chat.completion", "choices": choices, "usage": self._usage}


def as_chunks(completion: JSON, with_usage: bool) -> list[JSON]:
    """A cached completion as the chunks of a well-formed stream."""
    base = {"id": completion.get("id"), "object": "chat.completion.chunk", "created": completion.get("created"),
            "model": completion.get("model")}
    chunks: list[JSON] = []
    for choice in completion.get("choices") or ():
        index, message = choice.get("index", 0), choice.get("message") or {}
        delta: JSON = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
        chunks.append({**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                            "finish_reason": choice.get("finish_reason") or "stop"}]})
    if with_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks
