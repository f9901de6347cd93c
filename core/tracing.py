"""OpenTelemetry traces, following the GenAI semantic conventions: a server span per request and a
client span per upstream attempt, sent over OTLP/HTTP to the collector the standard variables name.

Imported only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces twin) is set. The spans are plain
tuples, encoded as they end (core.otlp) and sent in batches from the event loop: the OpenTelemetry
SDK's span objects cost ~80 µs a request here, these a few. What is read of the environment, as
the SDK reads it: `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `_HEADERS`, `_PROTOCOL` (`http/protobuf`,
the default, or `http/json`), `_TIMEOUT`; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`;
`OTEL_TRACES_SAMPLER` (`parentbased_always_on`, the default, `always_on`, `always_off`,
`traceidratio`, `parentbased_traceidratio`, `parentbased_always_off`) and `OTEL_TRACES_SAMPLER_ARG`;
`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.

The client's `traceparent` is continued; the one sent upstream names the request's server span, so
a provider's own spans hang under it. Prompt and completion text are never put on a span.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from core.context import RequestContext
from core.otlp import CLIENT, ERROR, MEMO, SERVER, UNSET, Encoder, Span
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

_OPERATION: ContextVar[str] = ContextVar("apex_operation", default="chat")   # the request's, for its attempts
_SERVER: ContextVar[tuple[bytes, bytes, bool] | None] = ContextVar("apex_server_span", default=None)


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

    def _root(self, trace_id: bytes) -> bool:
        base = self.name.removeprefix("parentbased_")
        if base == "always_off":
            return False
        if base == "traceidratio":
            return int.from_bytes(trace_id[8:], "big") < self._bound
        return True

    def sampled(self, trace_id: bytes, parent_sampled: bool | None) -> bool:
        if parent_sampled is not None and self.name.startswith("parentbased_"):
            return parent_sampled
        return self._root(trace_id)


class Exporter:
    """Spans sent in batches from the event loop itself: a batch when `batch` spans wait, else every
    `delay_s`, and at `flush`. A span is encoded as it ends (protobuf: a few µs), the POST is
    aiohttp's; no thread, since a thread encoding beside the loop held the GIL in turns of 5 ms and
    stalled every request behind it."""

    def __init__(self, url: str, headers: Mapping[str, str], protocol: str, timeout_s: float,
                 resource: Mapping[str, str], delay_s: float, max_queue: int, batch: int) -> None:
        self._url, self._json, self._timeout_s = url, protocol == "http/json", timeout_s
        self._headers = {**headers, "content-type": "application/json" if self._json else "application/x-protobuf"}
        self._encoder = Encoder(resource)
        self._delay_s, self._max_queue, self._batch = delay_s, max_queue, batch
        self._pending: list[Any] = []          # protobuf: each span's bytes; JSON: the spans
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._session: Any = None
        self.dropped = 0

    def add(self, span: Span) -> None:
        if len(self._pending) >= self._max_queue:
            self.dropped += 1
            return
        self._pending.append(span if self._json else self._encoder.span(span))
        if len(self._pending) >= self._batch:
            self._send_now()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay_s, self._send_now)

    def _send_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Any]) -> None:
        import aiohttp

        body = self._encoder.json(batch) if self._json else self._encoder.request(batch)
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

    def __init__(self, providers: Mapping[str, tuple[str, str | None]], exporter: Exporter, sampler: Sampler) -> None:
        self._providers = {name: (convention_name(name, kind, host), host) for name, (kind, host) in providers.items()}
        self.exporter, self._sampler = exporter, sampler
        self._client_attributes: dict[tuple[str, str, str, str], tuple[tuple[str, Any], ...]] = {}

    def begin(self, request: RequestContext, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Any:
        """The request's server span opened, the client's trace continued; the `traceparent` its
        upstream calls carry names it."""
        parent = next((value for name, value in headers if name == b"traceparent"), None)
        matched = TRACEPARENT.fullmatch(parent.decode("latin-1")) if parent else None
        if matched and matched[1] != ZERO_TRACE and matched[2] != ZERO_SPAN:
            trace_id, parent_id = bytes.fromhex(matched[1]), bytes.fromhex(matched[2])
            sampled = self._sampler.sampled(trace_id, bool(int(matched[3], 16) & 1))
        else:
            trace_id, parent_id = _id(16), b""
            sampled = self._sampler.sampled(trace_id, None)
        span_id = _id(8)
        request.traceparent = f"00-{trace_id.hex()}-{span_id.hex()}-{'01' if sampled else '00'}"
        _SERVER.set((trace_id, span_id, sampled))
        _OPERATION.set(OPERATIONS.get(path, "chat"))
        return (trace_id, span_id, parent_id, sampled, f"{method} {path}", time.time_ns(), method, path,
                request.request_id)

    def attempt(self, attempt: Attempt) -> None:
        """A client span for one upstream attempt, just ended (it is noted when it ends)."""
        server = _SERVER.get()
        if server is None or not server[2]:
            return
        operation = _OPERATION.get()
        shared = self._client_attributes.get((operation, attempt.provider, attempt.model, attempt.outcome))
        if shared is None:
            shared = self._client_shared(operation, attempt)
        end = time.time_ns()
        self.exporter.add(Span(server[0], _id(8), server[1], f"{operation} {attempt.model}", CLIENT,
                               end - attempt.ms * 1_000_000, end, shared, {}, UNSET if attempt.ok else ERROR))

    def _client_shared(self, operation: str, attempt: Attempt) -> tuple[tuple[str, Any], ...]:
        """A client span's attributes: the same for every attempt of a route with one outcome, so made
        once for each (up to MEMO of them)."""
        system, host = self._providers.get(attempt.provider, (attempt.provider, None))
        shared: tuple[tuple[str, Any], ...] = (
            ("gen_ai.operation.name", operation), ("gen_ai.request.model", attempt.model),
            ("gen_ai.provider.name", system), ("apex.provider", attempt.provider), ("apex.outcome", attempt.outcome))
        if host:
            shared += (("server.address", host),)
        if not attempt.ok:
            shared += (("error.type", attempt.outcome),)
        if len(self._client_attributes) >= MEMO:
            self._client_attributes.clear()
        self._client_attributes[(operation, attempt.provider, attempt.model, attempt.outcome)] = shared
        return shared

    def end(self, begun: Any, status: int, fields: Mapping[str, Any]) -> None:
        """The server span, with what the request came to: models, provider, usage and status."""
        trace_id, span_id, parent_id, sampled, name, start, method, path, request_id = begun
        if not sampled:
            return
        provider = fields["provider"]
        shared = (("http.request.method", method), ("url.path", path),
                  ("gen_ai.operation.name", OPERATIONS.get(fields["endpoint"])),
                  ("gen_ai.request.model", fields["model"]), ("gen_ai.response.model", fields["served"]),
                  ("gen_ai.provider.name", self._providers.get(provider, (provider,))[0]), ("apex.key", fields["key"]),
                  ("http.response.status_code", status))
        own: dict[str, Any] = {"apex.request_id": request_id}
        if provider:
            own.update({"gen_ai.usage.input_tokens": fields["prompt_tokens"],
                        "gen_ai.usage.output_tokens": fields["completion_tokens"],
                        "apex.cost_usd": float(fields["cost"])})
        self.exporter.add(Span(trace_id, span_id, parent_id, name, SERVER, start, time.time_ns(), shared, own,
                               ERROR if status >= 500 else UNSET))

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
    exporter = Exporter(url, _pairs(setting("HEADERS")), protocol, float(setting("TIMEOUT", "10000")) / 1000,
                        resource, float(environ.get("OTEL_BSP_SCHEDULE_DELAY") or 5000) / 1000,
                        int(environ.get("OTEL_BSP_MAX_QUEUE_SIZE") or 2048),
                        int(environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") or 512))
    hosts = {name: (p.kind, urllib.parse.urlsplit(p.base_url).hostname if p.base_url else None)
             for name, p in providers.items()}
    return Tracer(hosts, exporter, Sampler(environ.get("OTEL_TRACES_SAMPLER", ""),
                                           environ.get("OTEL_TRACES_SAMPLER_ARG", "")))
