"""OpenTelemetry traces, following the GenAI semantic conventions: a server span per request and a
client span per upstream attempt. Imported only when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its traces
twin) is set — the SDK is never loaded otherwise — and configured by the standard `OTEL_*` variables
(the exporter reads its endpoint, headers, protocol and timeout itself).

The client's `traceparent` is continued; the one sent upstream names the request's server span, so
a provider's own spans hang under it. Prompt and completion text are never put on a span.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core.context import RequestContext
from core.usage import Attempt

# The operation each endpoint performs, in the conventions' words.
OPERATIONS = {"/v1/chat/completions": "chat", "/v1/messages": "chat", "/v1/responses": "chat",
              "/v1/completions": "text_completion", "/v1/embeddings": "embeddings",
              "/v1/images/generations": "generate_content"}
# Providers as the conventions name them (`gen_ai.provider.name`), by kind; an OpenAI-compatible
# server other than OpenAI's own goes by its configured name (groq, deepseek, a local vLLM).
PROVIDER_NAMES = {"azure": "azure.ai.openai", "anthropic": "anthropic", "bedrock": "aws.bedrock"}
OPENAI_HOST = "api.openai.com"


def convention_name(name: str, kind: str, host: str | None) -> str:
    if kind == "openai":
        return "openai" if host in (OPENAI_HOST, None) else name
    return PROVIDER_NAMES.get(kind, name)
PROPAGATOR = TraceContextTextMapPropagator()
_OPERATION: ContextVar[str] = ContextVar("apex_operation", default="chat")   # the request's, for its attempts


class Tracer:
    """Spans for requests and their attempts. `providers`: name → (kind, upstream host)."""

    def __init__(self, providers: Mapping[str, tuple[str, str | None]]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "apex-gateway"})
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self.provider.get_tracer("apex-gateway")
        # name → (the conventions' name, upstream host)
        self._providers = {name: (convention_name(name, kind, host), host) for name, (kind, host) in providers.items()}

    def begin(self, request: RequestContext, method: str, path: str,
              headers: list[tuple[bytes, bytes]]) -> tuple[Any, Any]:
        """The request's server span, current from here on, with the client's trace continued; the
        `traceparent` its upstream calls carry names it."""
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers
                   if name in (b"traceparent", b"tracestate")}
        parent = PROPAGATOR.extract(carrier) if carrier else None
        span = self._tracer.start_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER, attributes={
            "http.request.method": method, "url.path": path, "apex.request_id": request.request_id})
        token = otel_context.attach(trace.set_span_in_context(span))
        _OPERATION.set(OPERATIONS.get(path, "chat"))
        out: dict[str, str] = {}
        PROPAGATOR.inject(out)
        request.traceparent = out.get("traceparent")
        return span, token

    def attempt(self, attempt: Attempt) -> None:
        """A client span for one upstream attempt, just ended (it is noted when it ends)."""
        operation = _OPERATION.get()
        system, host = self._providers.get(attempt.provider, (attempt.provider, None))
        end = time.time_ns()
        attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.request.model": attempt.model,
                                      "gen_ai.provider.name": system,
                                      "apex.provider": attempt.provider, "apex.outcome": attempt.outcome}
        if host:
            attributes["server.address"] = host
        span = self._tracer.start_span(f"{operation} {attempt.model}", kind=SpanKind.CLIENT,
                                       start_time=end - attempt.ms * 1_000_000, attributes=attributes)
        if not attempt.ok:
            span.set_attribute("error.type", attempt.outcome)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def end(self, span: Any, token: Any, status: int, fields: Mapping[str, Any]) -> None:
        """The server span, with what the request came to: models, provider, usage and status."""
        operation = OPERATIONS.get(str(fields.get("endpoint")))
        attributes = {
            "http.response.status_code": status, "gen_ai.operation.name": operation,
            "gen_ai.request.model": fields.get("model"), "gen_ai.response.model": fields.get("served"),
            "gen_ai.provider.name": self._providers.get(str(fields.get("provider")), (fields.get("provider"),))[0],
            "gen_ai.usage.input_tokens": fields.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": fields.get("completion_tokens"), "apex.cost_usd": fields.get("cost"),
            "apex.key": fields.get("key"), "apex.cache_hit": fields.get("cache") == "hit",
        }
        span.set_attributes({k: v for k, v in attributes.items() if v is not None and v != ""})
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        otel_context.detach(token)

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()


def tracer_for(providers: Mapping[str, Any]) -> Tracer:
    """`providers`: the config's provider settings (kind, base_url)."""
    return Tracer({name: (p.kind, urlsplit(p.base_url).hostname if p.base_url else None)
                   for name, p in providers.items()})
