"""One streaming pipeline for every streaming endpoint.

Opening the stream with fallback, the commit at its first item, metering, cache assembly, encoding
and guarding live here once. An endpoint's `StreamFormat` (made per stream: it may keep state) says
only how its items are written, what usage and generated text one holds, and how a stream begins,
ends and fails in its wire format; core's own format (OpenAI chunks) is `ChatStream`.

Metering: usage the upstream reports is billed as it arrives. What it never reported is counted
when the stream ends, however it ends: the prompt (so a client that leaves before the first token
still pays for what the provider read) and the text generated so far — content, tool-call
arguments, reasoning (cl100k: an estimate off OpenAI).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Generic, Protocol, TypeVar

import orjson

from core import context, sse
from core.cache import Assembled, ResponseCache
from core.catalog import Resolution
from core.errors import GatewayError, openai_error_bytes
from core.fallback import Outcome, prepend
from core.gateway import Gateway, OpenStream
from core.http import EventStream, StreamAborted
from core.tokens import RunningCount, count_prompt_tokens
from core.types import JSON
from core.usage import Meter

log = logging.getLogger("apex.stream")

Item = TypeVar("Item")
Item_contra = TypeVar("Item_contra", contravariant=True)
# (usage in core's terms — prompt_tokens and/or completion_tokens, when the item reports it —, the
# text it adds to the answer)
Reading = tuple[JSON | None, str]
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
BROKEN = GatewayError("The stream failed inside the gateway", code="internal_error")


class StreamFormat(Protocol[Item_contra]):
    def begin(self) -> bytes: ...

    def encode(self, item: Item_contra) -> bytes: ...

    def reading(self, item: Item_contra) -> Reading: ...

    def costed(self, item: Item_contra, cost: float) -> Any:
        """`item` (one whose reading had usage), marked with the request's cost so far (`_cost`, USD)
        where the format carries it: its final usage item then tells the client what it cost."""
        ...

    async def end(self) -> bytes: ...

    async def fail(self, err: GatewayError) -> bytes: ...


def chat_reading(chunk: JSON) -> Reading:
    """A core-format chunk's usage and generated text (content or legacy text, tool-call arguments,
    reasoning)."""
    pieces = []
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        pieces += [delta.get("content"), choice.get("text"), delta.get("reasoning_content"), delta.get("reasoning")]
        pieces += [(call.get("function") or {}).get("arguments") for call in delta.get("tool_calls") or ()]
    return chunk.get("usage") or None, "".join(p for p in pieces if isinstance(p, str))


class ChatStream:
    """Core's format on the wire: chunks as `data:` events, `[DONE]` at the end, a failure as a data
    event with an `error` object (which the OpenAI SDK raises; never a false [DONE] after it). The
    usage-only chunk the gateway always asks for passes only if the client asked too."""

    def __init__(self, wants_usage: bool = True) -> None:
        self.wants_usage = wants_usage

    def begin(self) -> bytes:
        return b""

    def encode(self, chunk: JSON) -> bytes:
        if not self.wants_usage and chunk.get("usage") and not chunk.get("choices"):
            return b""
        return sse.encode(orjson.dumps(chunk))

    def reading(self, chunk: JSON) -> Reading:
        return chat_reading(chunk)

    def costed(self, chunk: JSON, cost: float) -> JSON:
        return sse.with_cost(chunk, cost)

    async def end(self) -> bytes:
        return sse.DONE

    async def fail(self, err: GatewayError) -> bytes:
        return sse.encode(openai_error_bytes(err))


def with_usage(body: JSON) -> JSON:
    """The request with `stream_options.include_usage` on: the gateway always meters."""
    return {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}


class CacheSlot:
    """A streamed chat answer put back together as it passes, cached once it has ended well."""

    def __init__(self, cache: ResponseCache, name: str, extras: JSON) -> None:
        self._cache, self._name, self._extras = cache, name, extras
        self._assembled = Assembled()

    def feed(self, chunk: JSON) -> None:
        self._assembled.feed(chunk)

    async def store(self) -> None:
        if not self._assembled.too_large:
            await self._cache.put(self._name, {**self._assembled.completion(), **self._extras})


class Metered:
    """What one stream used, billed through `bill` as it learns it and settled once at its end."""

    def __init__(self, bill: Callable[[JSON | None], None], prompt: Callable[[], JSON],
                 cost: Callable[[], float] | None = None) -> None:
        """`cost`: what the stream has cost so far, for the item that carries its usage; None: no
        item carries it (the gateway's `expose_cost` is off)."""
        self._bill, self._prompt, self.cost = bill, prompt, cost
        self._delivered = RunningCount()
        self._prompt_seen = self._completion_seen = self._settled = False

    def read(self, reading: Reading) -> None:
        usage, text = reading
        if usage:
            self._prompt_seen = self._prompt_seen or "prompt_tokens" in usage
            self._completion_seen = self._completion_seen or "completion_tokens" in usage
            self._bill(usage)
        if text:
            self._delivered.add(text)

    def settle(self) -> None:
        """Counts what the upstream never reported; once, whichever way the stream ended."""
        if self._settled:
            return
        self._settled = True
        missing: JSON = {}
        if not self._prompt_seen:
            missing["prompt_tokens"] = count_prompt_tokens(self._prompt())
        if not self._completion_seen:
            missing["completion_tokens"] = self._delivered.tokens()
        if missing:
            self._bill(missing)


class Pipeline(Generic[Item]):
    """The body of a committed stream: its items metered, encoded, guarded. Closing it at any point
    (even before its first item, when the client left at once) closes the upstream and settles the
    meter."""

    def __init__(self, first: Item | None, rest: AsyncGenerator[Item, None], fmt: StreamFormat[Item],
                 metered: Metered, cache: CacheSlot | None) -> None:
        self._rest, self._items = rest, prepend(first, rest)
        self._fmt, self._metered, self._cache = fmt, metered, cache
        self._body = self._run()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._body

    async def aclose(self) -> None:
        try:
            await self._body.aclose()
            await self._rest.aclose()       # when the body never started, nothing else closes it
        finally:
            self._metered.settle()

    async def _run(self) -> AsyncGenerator[bytes, None]:
        fmt = self._fmt
        try:
            if opening := fmt.begin():
                yield opening
            async for item in self._items:
                reading = fmt.reading(item)
                self._metered.read(reading)
                if reading[0] and (cost := self._metered.cost) is not None:
                    item = fmt.costed(item, cost())
                if self._cache is not None:
                    self._cache.feed(item)
                if data := fmt.encode(item):
                    yield data
            if self._cache is not None:
                await self._cache.store()
            yield await fmt.end()
        except GatewayError as err:
            log.warning("stream broke after its first byte (request %s): %s", context.current().request_id,
                        err.message)
            yield await fmt.fail(err)
            raise StreamAborted(err) from err
        except Exception as exc:
            log.exception("stream failed inside the gateway (request %s)", context.current().request_id)
            yield await fmt.fail(BROKEN)
            raise StreamAborted(BROKEN) from exc
        finally:
            await self._items.aclose()
            self._metered.settle()


async def stream_answer(gw: Gateway, meter: Meter, resolution: Resolution, open_stream: OpenStream,
                        fmt: StreamFormat[Any], prompt: Callable[[], JSON], *, fallback: bool = True,
                        headers: dict[str, str] | None = None, cache: Callable[[Outcome[Any]], CacheSlot | None]
                        | None = None, committed: Callable[[Outcome[Any], Any], None] | None = None) -> EventStream:
    """A streamed answer: the first route whose stream yields its first item is committed to (until
    then fallback is still possible), `committed` sees that item, and the rest flows through the
    pipeline. `prompt` makes the request in core's format, should a prompt left unreported need counting."""
    outcome = await gw.first_stream(resolution, open_stream, fallback)
    first, rest = outcome.value
    if committed is not None:
        committed(outcome, first)

    def bill(usage: JSON | None) -> None:
        gw.bill(meter, resolution, outcome.route, usage)

    bill(None)
    body = Pipeline(first, rest, fmt, Metered(bill, prompt, (lambda: meter.cost) if gw.settings.expose_cost else None),
                    cache(outcome) if cache is not None else None)
    return EventStream(body, headers={**SSE_HEADERS, **(headers or {})})
