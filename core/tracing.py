"""OpenTelemetry traces, following the GenAI semantic conventions: a server span per request and a
client span per upstream attempt, sent over OTLP/HTTP to the collector the standard variables name.

Imported only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces twin) is set. What a request's
spans need is kept when it ends — its start, what it came to, the attempts it noted (each with the
time it ended, on the request's context) — and its spans are made, encoded (core.otlp) and sent with
the rest of their batch, from the event loop. The OpenTelemetry SDK's span objects cost ~80 µs a
request here, these ~5. What is read of the environment, as the SDK reads it:
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_PROTOCOL` (`http/protobuf`, the default, or
`http/json`), `_TIMEOUT`; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`;
`OTEL_TRACES_SAMPLER` (`parentbased_always_on`, the default, `always_on`, `always_off`,
`traceidratio`, `parentbased_traceidratio`, `parentbased_always_off`) and `OTEL_TRACES_SAMPLER_ARG`;
`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.

The client's `traceparent` is continued; the one sent upstream names the request's server span, so
a provider's own spans hang under it. Prompt and completion text are never put on a span.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from core.context import RequestContext
from core.otlp import CLIENT, ERROR, MEMO, SERVER, UNSET, Encoder, Span, Static
from core.usage import Attempt

log = logging.getLogger("apex.tracing")

# The operation each endpoint performs, in the conventions' words.
OPERATIONS = {"/v1/chat/completions": "chat", "/v1/messages": "chat", "/v1/responses": "chat",
              "/v1/completions": "text_completion", "/v1/embeddings": "embeddings",
              "/v1/images/generations": "generate_content"}
# Providers as the conventions name them (`gen_ai.provider.name`), by kind; an OpenAI-compatible
# server other than OpenAI's own goes by its configured name (groq, deepseek, a local vLLM).
PROVIDER_NAMES = {"azure": "azure.ai.openai", "anthropic": "anthropic", "bedrock": "aws.bedrock"}
OPENAI_HOST = "api.openai.com"
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
ZERO_TRACE, ZERO_SPAN = "0" * 32, "0" * 16


def convention_name(name: str, kind: str, host: str | None) -> str:
    if kind == "openai":
        return "openai" if host in (OPENAI_HOST, None) else name
    return PROVIDER_NAMES.get(kind, name)


def _id(size: int) -> bytes:
    """A random trace (16 bytes) or span (8) id."""
    return random.randbytes(size)


class Sampler:
    """The standard samplers by name: whether a new trace is recorded, and whether a continued one is."""

    def __init__(self, name: str, argument: str) -> None:
        self.name = name or "parentbased_always_on"
        try:
            ratio = float(argument) if argument else 1.0
        except ValueError:
            ratio = 1.0
        self._bound = int(max(0.0, min(1.0, ratio)) * (1 << 64))
        self._parent_based = self.name.startswith("parentbased_")
        self._base = self.name.removeprefix("parentbased_")

    def _root(self, trace_id: bytes) -> bool:
        if self._base == "always_off":
            return False
        if self._base == "traceidratio":
            return int.from_bytes(trace_id[8:], "big") < self._bound
        return True

    def sampled(self, trace_id: bytes, parent_sampled: bool | None) -> bool:
        if parent_sampled is not None and self._parent_based:
            return parent_sampled
        return self._root(trace_id)


class Exporter:
    """Spans sent in batches from the event loop itself: a batch when `batch` spans wait, else every
    `delay_s`, and at `flush`. What waits is each request as it ended; `spans_of` makes a batch of
    them spans, and they are encoded, in one pass as the batch goes: made and encoded as each
    request ended, the same spans cost three times as much, the code and data for them cold among
    the request's own. The POST is aiohttp's; no thread, since a thread encoding beside the loop
    held the GIL in turns of 5 ms and stalled every request behind it."""

    def __init__(self, url: str, headers: Mapping[str, str], protocol: str, timeout_s: float,
                 resource: Mapping[str, str], delay_s: float, max_queue: int, batch: int, *,
                 spans_of: Callable[[list[Any]], list[Span]]) -> None:
        self._url, self._json, self._timeout_s = url, protocol == "http/json", timeout_s
        self._headers = {**headers, "content-type": "application/json" if self._json else "application/x-protobuf"}
        self._encoder, self._spans_of = Encoder(resource), spans_of
        self._delay_s, self._max_queue, self._batch = delay_s, max_queue, batch
        self._pending: list[Any] = []
        self._waiting = 0                       # the spans they make
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._session: Any = None
        self.dropped = 0

    def add(self, ended: Any, spans: int) -> None:
        """A request that ended (what `spans_of` reads), and how many spans it makes."""
        if self._waiting + spans > self._max_queue:
            self.dropped += spans
            return
        self._pending.append(ended)
        self._waiting += spans
        if self._waiting >= self._batch:
            self._send_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._send_now)

    def _send_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._waiting = self._pending, [], 0
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, ended: list[Any]) -> None:
        import aiohttp

        encoder, batch = self._encoder, self._spans_of(ended)
        body = encoder.json(batch) if self._json else encoder.request([encoder.span(span) for span in batch])
        try:
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                                                      trust_env=False)
            async with self._session.post(self._url, data=body, headers=self._headers) as answer:
                await answer.read()
                if answer.status >= 300:
                    log.warning("the collector at %s refused %d spans: HTTP %d", self._url, len(batch), answer.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:     # a collector away must not reach a request
            log.warning("could not send %d spans to %s: %s", len(batch), self._url, exc)

    async def flush(self) -> None:
        """Everything waiting, sent (a Lambda function's invocation ends here; a server, when it stops)."""
        self._send_now()
        if self._sending:
            await asyncio.gather(*self._sending)

    async def aclose(self) -> None:
        await self.flush()
        if self._session is not None:
            await self._session.close()


class Tracer:
    """Spans for requests and their attempts. `providers`: name → (kind, upstream host)."""

    def __init__(self, providers: Mapping[str, tuple[str, str | None]], sampler: Sampler,
                 exporter: Callable[..., Exporter]) -> None:
        """`exporter`: makes the Exporter, given how the tracer makes spans of the requests it adds."""
        self._providers = {name: (convention_name(name, kind, host), host) for name, (kind, host) in providers.items()}
        self._sampler, self.exporter = sampler, exporter(spans_of=self._spans)
        self._statics: dict[tuple[Any, ...], Static] = {}       # made once for each distinct set (core.otlp)

    def begin(self, request: RequestContext, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
        """The request's server span opened, the client's trace continued; the `traceparent` its
        upstream calls carry names it, and a sampled request keeps its attempts' ends."""
        matched = None
        for name, value in headers:
            if name == b"traceparent":
                matched = TRACEPARENT.fullmatch(value.decode("latin-1"))
                break
        if matched and matched[1] != ZERO_TRACE and matched[2] != ZERO_SPAN:
            trace_id, parent_id = bytes.fromhex(matched[1]), bytes.fromhex(matched[2])
            sampled = self._sampler.sampled(trace_id, bool(int(matched[3], 16) & 1))
        else:
            trace_id, parent_id = _id(16), b""
            sampled = self._sampler.sampled(trace_id, None)
        span_id = _id(8)
        request.traceparent = f"00-{trace_id.hex()}-{span_id.hex()}-{'01' if sampled else '00'}"
        if sampled:
            request.attempts_ended = []
        return (trace_id, span_id, parent_id, sampled, time.time_ns(), method, path)

    def end(self, begun: Any, request: RequestContext, status: int, fields: Mapping[str, Any]) -> None:
        """The request, ended: what its spans need kept in one flat tuple of plain values and the
        tracer's shared Statics (its attempts in a second: Static, start, end, …) — a request's
        dicts and lists kept until their batch went made the garbage collector run fifty times as
        often — and the spans made as the batch goes (`_spans`)."""
        trace_id, span_id, parent_id, sampled, start, method, path = begun
        if not sampled:
            return
        statics, provider = self._statics, fields["provider"]
        key: tuple[Any, ...] = (method, path, fields["model"], fields["served"], provider, fields["key"], status)
        attempts: tuple[Any, ...] = ()
        for attempt, ended in request.attempts_ended or ():
            route = (path, attempt.provider, attempt.model, attempt.outcome)
            attempts += (statics.get(route) or self._client_static(route, attempt), ended - attempt.ms * 1_000_000,
                         ended)
        self.exporter.add((trace_id, span_id, parent_id, start, time.time_ns(), statics.get(key) or
                           self._server_static(key), request.request_id, provider, fields["prompt_tokens"],
                           fields["completion_tokens"], fields["cost"], attempts), 1 + len(attempts) // 3)

    @staticmethod
    def _spans(ended: list[Any]) -> list[Span]:
        """Each request's server span, with what it came to (models, provider, usage, status), and
        a client span for each attempt it noted."""
        spans: list[Span] = []
        for trace_id, span_id, parent_id, start, end, static, request_id, provider, tokens_in, tokens_out, cost, \
                attempts in ended:
            own: tuple[tuple[str, Any], ...] = (("apex.request_id", request_id),)
            if provider:
                own += (("gen_ai.usage.input_tokens", tokens_in), ("gen_ai.usage.output_tokens", tokens_out),
                        ("apex.cost_usd", float(cost)))
            spans.append(Span(trace_id, span_id, parent_id, start, end, static, own))
            for i in range(0, len(attempts), 3):
                spans.append(Span(trace_id, _id(8), span_id, attempts[i + 1], attempts[i + 2], attempts[i], ()))
        return spans

    def _remember(self, key: tuple[Any, ...], static: Static) -> Static:
        if len(self._statics) >= MEMO:
            self._statics.clear()
        self._statics[key] = static
        return static

    def _server_static(self, key: tuple[Any, ...]) -> Static:
        method, path, model, served, provider, api_key, status = key
        return self._remember(key, Static(f"{method} {path}", SERVER, (
            ("http.request.method", method), ("url.path", path), ("gen_ai.operation.name", OPERATIONS.get(path)),
            ("gen_ai.request.model", model), ("gen_ai.response.model", served),
            ("gen_ai.provider.name", self._providers.get(provider, (provider,))[0]), ("apex.key", api_key),
            ("http.response.status_code", status)), ERROR if status >= 500 else UNSET))

    def _client_static(self, key: tuple[Any, ...], attempt: Attempt) -> Static:
        """A client span's name and attributes: the same for every attempt of a route with one outcome."""
        operation = OPERATIONS.get(key[0], "chat")
        system, host = self._providers.get(attempt.provider, (attempt.provider, None))
        attributes: tuple[tuple[str, Any], ...] = (
            ("gen_ai.operation.name", operation), ("gen_ai.request.model", attempt.model),
            ("gen_ai.provider.name", system), ("apex.provider", attempt.provider), ("apex.outcome", attempt.outcome))
        if host:
            attributes += (("server.address", host),)
        if not attempt.ok:
            attributes += (("error.type", attempt.outcome),)
        return self._remember(key, Static(f"{operation} {attempt.model}", CLIENT, attributes,
                                          UNSET if attempt.ok else ERROR))

    async def flush(self) -> None:
        await self.exporter.flush()

    async def aclose(self) -> None:
        await self.exporter.aclose()


def _pairs(text: str) -> dict[str, str]:
    """`k1=v1,k2=v2`, percent-decoded (the OTEL_* header and resource lists)."""
    pairs = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if eq and key.strip():
            pairs[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    return pairs


def tracer_for(providers: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Tracer:
    """`providers`: the config's provider settings (kind, base_url)."""
    def setting(name: str, default: str = "") -> str:
        return environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(f"OTEL_EXPORTER_OTLP_{name}") or default

    url = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or \
        environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    protocol = setting("PROTOCOL", "http/protobuf")
    if protocol not in ("http/protobuf", "http/json"):
        log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not served; spans go as http/protobuf", protocol)
        protocol = "http/protobuf"
    resource = {"service.name": "apex-gateway", **_pairs(environ.get("OTEL_RESOURCE_ATTRIBUTES", ""))}
    if environ.get("OTEL_SERVICE_NAME"):
        resource["service.name"] = environ["OTEL_SERVICE_NAME"]
    exporter = functools.partial(
        Exporter, url, _pairs(setting("HEADERS")), protocol, float(setting("TIMEOUT", "10000")) / 1000, resource,
        float(environ.get("OTEL_BSP_SCHEDULE_DELAY") or 5000) / 1000,
        int(environ.get("OTEL_BSP_MAX_QUEUE_SIZE") or 2048),
        int(environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") or 512))
    hosts = {name: (p.kind, urllib.parse.urlsplit(p.base_url).hostname if p.base_url else None)
             for name, p in providers.items()}
    return Tracer(hosts, Sampler(environ.get("OTEL_TRACES_SAMPLER", ""), environ.get("OTEL_TRACES_SAMPLER_ARG", "")),
                  exporter)
