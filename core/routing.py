"""Which route answers: `auto` model choice (by cost, quality or speed, among the models that fit the
request), each route's observed speed, and circuit breakers — all per process.

A route that fails `breaker_failures` times within `breaker_window_s` is skipped for
`breaker_cooldown_s`; then one request probes it (half-open): success closes the circuit, failure
opens it again. Speed is time to first byte, exponentially weighted per route, seeded from the
model's `latency_ms` until observed.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.catalog import Catalog, ModelInfo, Resolution, Route
from core.errors import ProviderUnavailable, RequestError
from core.tokens import exceeds_window

log = logging.getLogger("apex.routing")

PREFERENCES = ("speed", "quality", "cost")
EWMA_WEIGHT = 0.2                # how much a new observation moves the estimate
ROUTES = 4096                    # routes whose circuit and latency each process keeps
UNKNOWN_LATENCY_MS = 10_000.0    # a route nobody measured or seeded sorts last for speed


@dataclass
class Circuit:
    failures: deque[float] = field(default_factory=deque)
    open_until: float = 0.0
    probing: bool = False

    def state(self, now: float) -> str:
        if self.open_until > now:
            return "open"
        return "half-open" if self.open_until else "closed"


class Health:
    """Circuit breakers and observed latency, by route. A route may be named by a client
    (`PROVIDER/MODEL`), so each map keeps the ROUTES most recently used, no more."""

    def __init__(self, failures: int, window_s: float, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failures, self._window_s, self._cooldown_s = failures, window_s, cooldown_s
        self._circuits: OrderedDict[Route, Circuit] = OrderedDict()
        self._latency_ms: OrderedDict[Route, float] = OrderedDict()
        self.clock = clock

    @staticmethod
    def _keep(entries: OrderedDict[Route, Any], route: Route, value: Any) -> None:
        entries[route] = value
        entries.move_to_end(route)
        if len(entries) > ROUTES:
            entries.popitem(last=False)

    def allow(self, route: Route) -> bool:
        """May a request try this route now? A half-open circuit lets exactly one through."""
        circuit = self._circuits.get(route)
        if circuit is None or not circuit.open_until:
            return True
        now = self.clock()
        if circuit.open_until > now or circuit.probing:
            return False
        circuit.probing = True
        return True

    def success(self, route: Route, seconds: float) -> None:
        previous = self._latency_ms.get(route)
        ms = seconds * 1000
        self._keep(self._latency_ms, route, ms if previous is None else previous + EWMA_WEIGHT * (ms - previous))
        circuit = self._circuits.get(route)
        if circuit is not None and (circuit.open_until or circuit.failures):
            if circuit.open_until:
                log.info("circuit closed: %s/%s answered again", route.provider, route.model)
            self._keep(self._circuits, route, Circuit())

    def failure(self, route: Route) -> None:
        now = self.clock()
        circuit = self._circuits.get(route) or Circuit()
        self._keep(self._circuits, route, circuit)
        if circuit.probing:                      # the probe failed: open again
            circuit.probing = False
            circuit.open_until = now + self._cooldown_s
            log.warning("circuit re-opened: %s/%s failed its probe", route.provider, route.model)
            return
        circuit.failures.append(now)
        while circuit.failures and circuit.failures[0] < now - self._window_s:
            circuit.failures.popleft()
        if len(circuit.failures) >= self._failures:
            circuit.failures.clear()
            circuit.open_until = now + self._cooldown_s
            log.warning("circuit opened: %s/%s failed %d times in %gs; skipped for %gs", route.provider,
                        route.model, self._failures, self._window_s, self._cooldown_s)

    def skipped(self, route: Route) -> ProviderUnavailable:
        return ProviderUnavailable(f"{route.provider}: circuit open", provider=route.provider)

    def latency_ms(self, route: Route, seed: float | None) -> float:
        return self._latency_ms.get(route, seed if seed is not None else UNKNOWN_LATENCY_MS)

    def snapshot(self, route: Route) -> dict[str, Any]:
        circuit = self._circuits.get(route)
        now = self.clock()
        return {"circuit": circuit.state(now) if circuit else "closed",
                "recent_failures": len(circuit.failures) if circuit else 0,
                "latency_ms": round(self._latency_ms[route], 2) if route in self._latency_ms else None}


# -- auto -------------------------------------------------------------------------------------------
def needs(body: dict[str, Any]) -> list[str]:
    """What a chat request asks of a model, beyond text."""
    wanted = []
    if body.get("tools"):
        wanted.append("tools")
    if any(isinstance(m.get("content"), list) and any(isinstance(p, dict) and p.get("type") == "image_url"
                                                       for p in m["content"])
           for m in body.get("messages") or () if isinstance(m, dict)):
        wanted.append("vision")
    if (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        wanted.append("json")
    return wanted


def _k(window: int) -> str:
    return f"{window // 1000}k" if window >= 1000 else str(window)


def auto(catalog: Catalog, health: Health, body: dict[str, Any], prefer: str) -> Resolution:
    """The models that can serve this request, best first by `prefer`; their routes in that order."""
    if prefer not in PREFERENCES:
        raise RequestError(f"routing.prefer must be one of {', '.join(PREFERENCES)}", code="invalid_value",
                           param="routing.prefer")
    wanted = needs(body)
    fitting: list[ModelInfo] = []
    for info in catalog.models.values():
        if info.type != "chat" or info.deprecated or not catalog.available(info):
            continue
        if not all(need in info.supports for need in wanted):
            continue
        if info.context_window and exceeds_window(body, info.context_window):
            continue
        fitting.append(info)
    if not fitting:
        detail = f" that supports {' and '.join(wanted)}" if wanted else ""
        raise RequestError(f"No configured chat model{detail} can take this request", code="model_not_found",
                           status=404, param="model")

    def speed(info: ModelInfo) -> float:
        return min(health.latency_ms(r, info.latency_ms) for r in catalog.routes_of(info))

    keys: dict[str, Callable[[ModelInfo], Any]] = {
        "cost": lambda m: (not m.priced, m.price_in + m.price_out, -m.quality),   # an unknown price never wins
        "quality": lambda m: (-m.quality, m.price_in + m.price_out),
        "speed": lambda m: (speed(m), m.price_in + m.price_out),
    }
    ranked = sorted(fitting, key=keys[prefer])
    best = ranked[0]
    routes: list[Route] = []
    for info in ranked:
        routes += [r for r in catalog.routes_of(info) if r not in routes]
    what = {"cost": "cheapest", "quality": "highest-quality", "speed": "fastest"}[prefer]
    context = f" with a {_k(best.context_window)} context" if best.context_window else ""
    supports = f" that supports {' and '.join(wanted)}" if wanted else ""
    observed = f" ({speed(best):.0f} ms to first byte)" if prefer == "speed" else ""
    return Resolution("auto", None, tuple(routes), f"{what} model{context}{supports}: {best.id}{observed}")
