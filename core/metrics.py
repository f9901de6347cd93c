"""Request metrics in this process: counters and histograms by label, written out in Prometheus's text
format for `GET /metrics`. No client library: a handful of dict updates a request.

Labels come from what the gateway knows, not from what a client typed: a model the config does not
name counts as `rejected`, and past `MAX_SERIES` label sets a metric folds new ones into `other`, so
a client cannot grow this process's memory by inventing names.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator

MAX_SERIES = 2000
OTHER = "other"
# Seconds: from a cache hit (under a millisecond) to a long generation.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Labels = tuple[str, ...]
INFINITY = 'le="+Inf"'


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Metric:
    def __init__(self, name: str, kind: str, help_: str, labels: Labels) -> None:
        self.name, self.kind, self.help, self.labels = name, kind, help_, labels

    def _key(self, values: Labels, series: dict[Labels, object]) -> Labels:
        if values in series or len(series) < MAX_SERIES:
            return values
        return (OTHER,) * len(values)

    def _labelled(self, values: Labels, extra: str = "") -> str:
        pairs = [f'{n}="{_escaped(v)}"' for n, v in zip(self.labels, values, strict=True)]
        if extra:
            pairs.append(extra)
        return "{" + ",".join(pairs) + "}" if pairs else ""

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"


class Counter(_Metric):
    def __init__(self, name: str, help_: str, labels: Labels) -> None:
        super().__init__(name, "counter", help_, labels)
        self.series: dict[Labels, float] = {}

    def add(self, values: Labels, amount: float = 1.0) -> None:
        key = self._key(values, self.series)    # type: ignore[arg-type]
        self.series[key] = self.series.get(key, 0.0) + amount

    def lines(self) -> Iterator[str]:
        yield from super().lines()
        for values, total in self.series.items():
            yield f"{self.name}{self._labelled(values)} {total:g}"


class Gauge(Counter):
    """Set at scrape time from what the process holds (circuit states)."""

    def __init__(self, name: str, help_: str, labels: Labels) -> None:
        super().__init__(name, help_, labels)
        self.kind = "gauge"


class Histogram(_Metric):
    def __init__(self, name: str, help_: str, labels: Labels, buckets: tuple[float, ...] = BUCKETS) -> None:
        super().__init__(name, "histogram", help_, labels)
        self.buckets = buckets
        self.series: dict[Labels, list[float]] = {}     # per bucket counts, then sum, then count

    def observe(self, values: Labels, seconds: float) -> None:
        key = self._key(values, self.series)    # type: ignore[arg-type]
        counts = self.series.get(key)
        if counts is None:
            counts = self.series[key] = [0.0] * (len(self.buckets) + 2)
        index = bisect_left(self.buckets, seconds)
        if index < len(self.buckets):
            counts[index] += 1
        counts[-2] += seconds
        counts[-1] += 1

    def lines(self) -> Iterator[str]:
        yield from super().lines()
        for values, counts in self.series.items():
            running = 0.0
            for bound, count in zip(self.buckets, counts, strict=False):
                running += count
                le = f'le="{bound:g}"'
                yield f"{self.name}_bucket{self._labelled(values, le)} {running:g}"
            yield f"{self.name}_bucket{self._labelled(values, INFINITY)} {counts[-1]:g}"
            yield f"{self.name}_sum{self._labelled(values)} {counts[-2]:g}"
            yield f"{self.name}_count{self._labelled(values)} {counts[-1]:g}"


REQUEST = ("endpoint", "model", "provider", "status")
ROUTE = ("endpoint", "model", "provider")


class Metrics:
    """The gateway's metrics; `observe` is called once a request, when its answer has ended."""

    def __init__(self) -> None:
        self.requests = Counter("apex_requests_total", "Requests answered, by endpoint, model, provider and status.",
                                REQUEST)
        self.errors = Counter("apex_request_errors_total", "Requests answered with a 4xx or 5xx status.", REQUEST)
        self.latency = Histogram("apex_request_duration_seconds", "From the request to the end of its answer.",
                                 ROUTE)
        self.ttfb = Histogram("apex_time_to_first_byte_seconds", "From the request to the first byte of its body.",
                              ROUTE)
        self.tokens = Counter("apex_tokens_total", "Tokens billed, by kind (prompt or completion).",
                              ("model", "provider", "kind"))
        self.cost = Counter("apex_cost_usd_total", "What the requests cost, in USD.", ("model", "provider"))
        self.attempts = Counter("apex_upstream_attempts_total",
                                "Calls to upstream providers, by route and outcome (ok, or the error's code).",
                                ("provider", "upstream_model", "outcome"))
        self.circuits = Gauge("apex_circuit_state", "Each route's circuit: 0 closed, 1 half-open, 2 open.",
                              ("provider", "upstream_model"))

    def observe(self, endpoint: str, model: str, provider: str, status: int, seconds: float,
                first_byte_s: float | None, prompt_tokens: int, completion_tokens: int, cost: float,
                attempts: Iterable[tuple[str, str, str]]) -> None:
        """`attempts`: (provider, upstream model, outcome) of each upstream call the request made."""
        code = str(status)
        self.requests.add((endpoint, model, provider, code))
        if status >= 400:
            self.errors.add((endpoint, model, provider, code))
        self.latency.observe((endpoint, model, provider), seconds)
        if first_byte_s is not None:
            self.ttfb.observe((endpoint, model, provider), first_byte_s)
        if prompt_tokens:
            self.tokens.add((model, provider, "prompt"), prompt_tokens)
        if completion_tokens:
            self.tokens.add((model, provider, "completion"), completion_tokens)
        if cost:
            self.cost.add((model, provider), cost)
        for attempt in attempts:
            self.attempts.add(attempt)

    def exposition(self, circuits: Iterable[tuple[str, str, int]] = ()) -> str:
        """Prometheus's text format (0.0.4); `circuits`: (provider, upstream model, state) now."""
        self.circuits.series = {}
        for provider, upstream_model, state in circuits:
            self.circuits.add((provider, upstream_model), state)
        metrics = (self.requests, self.errors, self.latency, self.ttfb, self.tokens, self.cost, self.attempts,
                   self.circuits)
        return "\n".join(line for metric in metrics for line in metric.lines()) + "\n"
