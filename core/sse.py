"""The one SSE reader and writer, per the WHATWG event-stream rules, used by every adapter and endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Event:
    data: str
    event: str = ""          # "" is the default `message` type
    id: str | None = None


async def read_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """Events from a byte stream cut anywhere: mid-line, mid-character, or between CR and LF."""
    buffer = b""
    data: list[str] = []
    event = ""
    last_id: str | None = None
    async for chunk in chunks:
        buffer += chunk
        # A trailing CR may be the first half of CRLF: wait for the next chunk to decide.
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)
        lines = buffer[:cut].splitlines(keepends=True)
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            buffer = lines.pop() + buffer[cut:]
        else:
            buffer = buffer[cut:]
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if not line:
                if data:
                    yield Event("\n".join(data), event, last_id)
                data, event = [], ""
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\0" not in value:
                last_id = value
    # An event cut off before its blank line is discarded, as the spec says: it may be incomplete.


def encode(data: bytes, event: str | None = None) -> bytes:
    """One event; multi-line data becomes several `data:` lines, as the format requires."""
    head = b"event: " + event.encode() + b"\n" if event else b""
    if b"\n" in data or b"\r" in data:
        body = b"".join(b"data: " + line + b"\n" for line in data.splitlines())
        return head + body + b"\n"
    return head + b"data: " + data + b"\n\n"


DONE = b"data: [DONE]\n\n"


def with_cost(data: dict[str, Any], cost: float) -> dict[str, Any]:
    """An event's data carrying the request's cost so far (`_cost`, USD): what a stream's final
    usage item tells the client, its headers gone by then."""
    return {**data, "_cost": round(cost, 10)}
