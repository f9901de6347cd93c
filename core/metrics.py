"""Request metrics in this process: counters and histograms by label, written out in Prometheus's text
format for `GET /metrics`. No client library: a request is one dict lookup and a few additions.

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

    def lines(self) -> Iterator[str]:
        yield from super().lines()
        for values, total in self.series.items():
            yield f"{self.name}{self._labelled(values)} {total:g}"


class Gauge(Counter):
    """Made at scrape time from what the process holds (circuit states)."""

    def __init__(self, name: str, help_: str, labels: Labels) -> None:
        super().__init__(name, help_, labels)
        self.kind = "gauge"


class Histogram(_Metric):
    """Rendered from a series' slice: bucket counts (each bucket's own), then the sum and the count."""

    def __init__(self, name: str, help_: str, labels: Labels, buckets: tuple[float, ...] = BUCKETS) -> None:
        super().__init__(name, "histogram", help_, labels)
        self.buckets = buckets
        self.series: dict[Labels, list[float]] = {}

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
# A request series' figures, in one list: requests, then per histogram its bucket counts, sum and count.
_LATENCY = 1
_TTFB = _LATENCY + len(BUCKETS) + 2
_PROMPT, _COMPLETION, _COST = _TTFB + len(BUCKETS) + 2, _TTFB + len(BUCKETS) + 3, _TTFB + len(BUCKETS) + 4


class Metrics:
    """The gateway's metrics. `observe`, once a request, updates one series (a list of floats, found
    by one dict lookup); `exposition` writes them out as the metrics below."""

    def __init__(self) -> None:
        self.series: dict[Labels, list[float]] = {}
        self.attempts: dict[Labels, float] = {}

    def observe(self, endpoint: str, model: str, provider: str, status: int, seconds: float,
                first_byte_s: float | None, prompt_tokens: int, completion_tokens: int, cost: float,
                attempts: Iterable[tuple[str, str, str]]) -> None:
        """`attempts`: (provider, upstream model, outcome) of each upstream call the request made."""
        key = (endpoint, model, provider, str(status))
        figures = self.series.get(key)
        if figures is None:
            if len(self.series) >= MAX_SERIES:
                key = (OTHER, OTHER, OTHER, str(status))
                figures = self.series.get(key)
            if figures is None:
                figures = self.series[key] = [0.0] * (_COST + 1)
        figures[0] += 1
        _observe(figures, _LATENCY, seconds)
        if first_byte_s is not None:
            _observe(figures, _TTFB, first_byte_s)
        figures[_PROMPT] += prompt_tokens
        figures[_COMPLETION] += completion_tokens
        figures[_COST] += cost
        for attempt in attempts:
            if attempt not in self.attempts and len(self.attempts) >= MAX_SERIES:
                attempt = (OTHER, OTHER, attempt[2])
            self.attempts[attempt] = self.attempts.get(attempt, 0.0) + 1

    def exposition(self, circuits: Iterable[tuple[str, str, int]] = ()) -> str:
        """Prometheus's text format (0.0.4); `circuits`: (provider, upstream model, state) now."""
        requests = Counter("apex_requests_total", "Requests answered, by endpoint, model, provider and status.",
                           REQUEST)
        errors = Counter("apex_request_errors_total", "Requests answered with a 4xx or 5xx status.", REQUEST)
        latency = Histogram("apex_request_duration_seconds", "From the request to the end of its answer.", REQUEST)
        ttfb = Histogram("apex_time_to_first_byte_seconds", "From the request to the first byte of its body.",
                         REQUEST)
        tokens = Counter("apex_tokens_total", "Tokens billed, by kind (prompt or completion).", (*REQUEST, "kind"))
        cost = Counter("apex_cost_usd_total", "What the requests cost, in USD.", REQUEST)
        attempts = Counter("apex_upstream_attempts_total",
                           "Calls to upstream providers, by route and outcome (ok, or the error's code).",
                           ("provider", "upstream_model", "outcome"))
        states = Gauge("apex_circuit_state", "Each route's circuit: 0 closed, 1 half-open, 2 open.",
                       ("provider", "upstream_model"))
        for key, figures in self.series.items():
            requests.series[key] = figures[0]
            if int(key[3]) >= 400:
                errors.series[key] = figures[0]
            latency.series[key] = figures[_LATENCY:_TTFB]
            if figures[_TTFB + len(BUCKETS) + 1]:
                ttfb.series[key] = figures[_TTFB:_PROMPT]
            tokens.series[(*key, "prompt")] = figures[_PROMPT]
            tokens.series[(*key, "completion")] = figures[_COMPLETION]
            cost.series[key] = figures[_COST]
        attempts.series = dict(self.attempts)
        states.series = {(provider, model): state for provider, model, state in circuits}
        metrics = (requests, errors, latency, ttfb, tokens, cost, attempts, states)
        return "\n".join(line for metric in metrics for line in metric.lines()) + "\n"


def _observe(figures: list[float], at: int, seconds: float) -> None:
    """A histogram's observation, in its slice of a series: a bucket, the sum, the count."""
    index = bisect_left(BUCKETS, seconds)
    if index < len(BUCKETS):
        figures[at + index] += 1
    figures[at + len(BUCKETS)] += seconds
    figures[at + len(BUCKETS) + 1] += 1
