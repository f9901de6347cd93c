"""What the gateway tells its operator about each request, once its answer has ended: one log line
(core.logs.RequestLines), the metrics behind `/metrics`, on Lambda the same figures as CloudWatch
Embedded Metric Format in that line, and the request's trace (core.tracing, when it is on).

All of it reads one set of fields, made once per request from its context and usage meter. With
every part off, the middleware holds no Observer and a request pays nothing here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from core.context import RequestContext
from core.logs import RequestLines, clean, line_head
from core.metrics import Metrics
from core.usage import usd

if TYPE_CHECKING:
    from core.catalog import Catalog
    from core.routing import Health
    from core.tracing import Tracer
    from core.usage import Meter

# Tracing is on when the standard variables name an OTLP endpoint (and the SDK is not disabled).
TRACING_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}


def route_circuits(catalog: Catalog, health: Health | None) -> list[tuple[str, str, int]]:
    """(provider, model, circuit state) of every configured route the gateway can reach."""
    if health is None:
        return []
    routes = dict.fromkeys(r for info in catalog.models.values() for r in catalog.routes_of(info))
    return [(r.provider, r.model, CIRCUIT_STATES[health.snapshot(r)["circuit"]]) for r in routes]


def tracing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(v) for v in TRACING_VARIABLES) and environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


REJECTED = "rejected"         # the model label of a request refused before any provider
EMF_NAMESPACE = "ApexGateway"
EMF_METRICS = [{"Name": "requests", "Unit": "Count"}, {"Name": "errors", "Unit": "Count"},
               {"Name": "upstream_failures", "Unit": "Count"}, {"Name": "latency_ms", "Unit": "Milliseconds"},
               {"Name": "ttfb_ms", "Unit": "Milliseconds"}, {"Name": "prompt_tokens", "Unit": "Count"},
               {"Name": "completion_tokens", "Unit": "Count"}, {"Name": "cost_usd", "Unit": "None"}]
EMF_DIMENSIONS = [["endpoint", "model", "provider"], ["endpoint"]]


class Observer:
    """`logs`: write the request line (when `apex.request` is enabled for INFO); `metrics`: count for
    `/metrics`; `emf`: put the figures in the line as CloudWatch metrics (Lambda); `tracer`: spans."""

    def __init__(self, models: Collection[str], lines: RequestLines | None = None, metrics: Metrics | None = None,
                 emf: bool = False, tracer: Tracer | None = None,
                 circuits: Callable[[], Iterable[tuple[str, str, int]]] = tuple) -> None:
        """`models`: the configured model ids (any other name a request gave is labelled `rejected`
        unless a provider answered it); `lines`: where request lines go (None: not logged);
        `circuits`: each route's (provider, model, circuit state) now."""
        self._models = models
        self.lines, self.metrics, self.emf, self.tracer, self._circuits = lines, metrics, emf, tracer, circuits

    def begin(self, request: RequestContext, scope: Scope) -> Any:
        """What `end` needs of the request's start: its trace's server span, when tracing."""
        if self.tracer is None:
            return None
        return self.tracer.begin(request, scope["method"], scope.get("apex.endpoint") or scope["path"],
                                 scope["headers"])

    def end(self, request: RequestContext, scope: Scope, status: int, started: float,
            first_byte: float | None, begun: Any) -> None:
        now = time.monotonic()
        meter = request.meter
        endpoint = scope.get("apex.endpoint") or "unknown"
        model = self._model(meter)
        if self.metrics is not None:
            first_byte_s = None if first_byte is None else first_byte - started
            if meter is None:
                self.metrics.observe(endpoint, "", "", status, now - started, first_byte_s, 0, 0, 0.0, ())
            else:
                self.metrics.observe(endpoint, model, meter.provider, status, now - started, first_byte_s,
                                     meter.prompt_tokens, meter.completion_tokens, meter.cost,
                                     [(a.provider, a.model, a.outcome) for a in meter.attempts])
        lines, message = self.lines, f"{scope['method']} {endpoint} {status}"
        if lines is not None and not lines.json:
            lines.write_text(self._text(message, request, model, started, now, first_byte))
        if (lines is None or not lines.json) and begun is None:
            return
        fields = self.fields(message, request, endpoint, model, status, started, now, first_byte)
        if lines is not None and lines.json:
            if self.emf:
                fields["_aws"] = self._emf(fields, status)
            lines.write(fields)
        if begun is not None and self.tracer is not None:
            self.tracer.end(begun, request, status, fields)

    @staticmethod
    def _text(message: str, request: RequestContext, model: str, started: float, now: float,
              first_byte: float | None) -> str:
        """A text line's `name=value` pairs, made straight from the request: a line a request is the
        default, and a dict of fields first cost as much again."""
        line = f"{message} request_id={request.request_id} latency_ms={(now - started) * 1000:.2f}"
        if first_byte is not None:
            line += f" ttfb_ms={(first_byte - started) * 1000:.2f}"
        meter = request.meter
        if meter is None:
            return line
        line += f" key={clean(meter.key_prefix or meter.key_id)}"
        if model:
            line += f" model={clean(model)}"
        if model == REJECTED:
            line += f" asked={clean(meter.model)}"
        if meter.provider:
            line += (f" served={clean(meter.mapped_model)} provider={meter.provider}"
                     f" prompt_tokens={meter.prompt_tokens} completion_tokens={meter.completion_tokens}"
                     f" cost={usd(meter.cost)} cache={'hit' if meter.cached else 'miss'}")
        elif meter.cached:
            line += " cache=hit"
        if meter.attempts:
            line += " attempts=" + ",".join(f"{clean(a.provider)}:{a.outcome.replace(' ', '_')}:{a.ms}ms"
                                            for a in meter.attempts)
        return line

    def _model(self, meter: Meter | None) -> str:
        """The model a request is counted under: the name it asked for, or `rejected` when no
        provider was tried for a name the config does not know (a client's names are not labels)."""
        if meter is None:
            return ""
        asked = meter.model
        return asked if meter.provider or asked in self._models or not asked else REJECTED

    @staticmethod
    def fields(message: str, request: RequestContext, endpoint: str, model: str, status: int, started: float,
               now: float, first_byte: float | None) -> dict[str, Any]:
        """The request's JSON line, as RequestLines writes it, and what its trace reads."""
        meter = request.meter
        latency_ms = round((now - started) * 1000, 2)
        ttfb_ms = None if first_byte is None else round((first_byte - started) * 1000, 2)
        if meter is None:
            return {**line_head(message), "request_id": request.request_id, "endpoint": endpoint, "status": status,
                    "latency_ms": latency_ms, "ttfb_ms": ttfb_ms, "key": None, "model": "", "served": "",
                    "provider": "", "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "cache": None,
                    "attempts": []}
        return {**line_head(message), "request_id": request.request_id, "endpoint": endpoint, "status": status,
                "latency_ms": latency_ms, "ttfb_ms": ttfb_ms, "key": meter.key_prefix or meter.key_id, "model": model,
                "asked": meter.model if model == REJECTED else None, "served": meter.mapped_model,
                "provider": meter.provider, "prompt_tokens": meter.prompt_tokens,
                "completion_tokens": meter.completion_tokens, "cost": round(meter.cost, 10),
                "cache": ("hit" if meter.cached else "miss") if meter.provider or meter.cached else None,
                "attempts": [{"provider": a.provider, "model": a.model, "outcome": a.outcome, "ms": a.ms}
                             for a in meter.attempts]}

    @staticmethod
    def _emf(fields: dict[str, Any], status: int) -> dict[str, Any]:
        """The `_aws` block that makes this line CloudWatch metrics (Embedded Metric Format): the
        figures are the line's own fields, named in it."""
        fields["requests"], fields["errors"] = 1, int(status >= 400)
        fields["upstream_failures"] = sum(a["outcome"] != "ok" for a in fields["attempts"])
        fields["cost_usd"] = fields["cost"]
        if fields["ttfb_ms"] is None:
            fields["ttfb_ms"] = fields["latency_ms"]
        return {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
            {"Namespace": EMF_NAMESPACE, "Dimensions": EMF_DIMENSIONS, "Metrics": EMF_METRICS}]}

    async def flush(self) -> None:
        """Lines and spans still waiting, written and sent (a Lambda invocation's end)."""
        if self.lines is not None:
            self.lines.flush()
        if self.tracer is not None:
            await self.tracer.flush()

    async def aclose(self) -> None:
        """Everything waiting, written and sent; the collector's connection closed (the server stops)."""
        await self.flush()
        if self.tracer is not None:
            await self.tracer.aclose()

    def exposition(self) -> str:
        """`/metrics`: the counters, and each route's circuit as it is now."""
        assert self.metrics is not None
        return self.metrics.exposition(self._circuits())
