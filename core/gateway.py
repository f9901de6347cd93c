"""The gateway's parts for one process, assembled once per cold start by a handler and passed to
every route: immutable config, the model table, the adapters, the stores, and what every request
goes through first (key, plan limits, metering)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request

from core import context
from core.cache import ResponseCache
from core.catalog import FREE, Catalog, Resolution, Route
from core.config import Config, GatewaySettings, Price
from core.context import MAX_TRACED_ATTEMPTS
from core.errors import GatewayError, RequestError, shown
from core.fallback import Outcome, Policy, first_stream, first_success
from core.keys import ApiKey, Authenticator, KeyStore
from core.limits import Admission, Limits, check_model
from core.routing import Health, auto
from core.storage.dynamo import DynamoDB
from core.storage.responses import ResponseStore
from core.types import ChatAdapter
from core.usage import Attempt, Meter, UsageRecorder

if TYPE_CHECKING:
    from core.observe import Observer
    from core.optimizer import Optimizer

T = TypeVar("T")
MAX_MODEL_CHARS = 256          # a model's name, as a client may write it (PROVIDER/MODEL included)
HOLD_OUTPUT_TOKENS = 4096      # a credit hold's output allowance when the request sets no limit
# How a stream is opened on one route (the adapter's method, or a translation around it).
OpenStream = Callable[[ChatAdapter, Route], AsyncGenerator[Any, None]]


@dataclass(frozen=True, slots=True)
class Admitted:
    key: ApiKey
    limits: Limits
    meter: Meter

    @property
    def pays(self) -> bool:
        """Whether the key pays from credits: its requests hold what they may cost (Gateway.hold)."""
        return self.limits.credits is not None


@dataclass
class Gateway:
    config: Config
    catalog: Catalog
    adapters: Mapping[str, ChatAdapter]
    auth: Authenticator
    admission: Admission
    keys: KeyStore | None = None
    db: DynamoDB | None = None
    responses: ResponseStore | None = None
    usage: UsageRecorder | None = None
    health: Health | None = None
    cache: ResponseCache | None = None
    optimizer: Optimizer | None = None       # built on first use (core.routes.optimize.optimizer_of)
    started_at: int = field(default=0)
    closers: list[Callable[[], None]] = field(default_factory=list)   # what the server adds, closed last
    observer: Observer | None = None          # logs, metrics and traces of each request (core.observe)

    @property
    def settings(self) -> GatewaySettings:
        return self.config.gateway

    async def admit(self, request: Request, billable: bool = True) -> Admitted:
        """The key, checked against its plan; a billable request is metered from here on, refused or
        not (reads of models or stored responses count against the rate limit but record no usage)."""
        if self.settings.ip_rpm:
            client = request.scope.get("client")
            await self.admission.limit_ip(client[0] if client else None)
        key = await self.auth.authenticate(request.headers)
        this = context.current()
        meter = this.meter = Meter(key.id, this.request_id, key_prefix=key.prefix, billable=billable)
        limits, this.rate_headers = await self.admission.admit(key)
        return Admitted(key, limits, meter)

    def resolve(self, admitted: Admitted, model: str, body: dict[str, Any] | None = None) -> Resolution:
        """The model's routes, if the key's plan allows naming it. `auto` (unless configured as a
        model) is chosen among the chat models that fit `body`, by its `routing.prefer`."""
        if len(model) > MAX_MODEL_CHARS:       # no name that long is configured; it must not reach storage whole
            admitted.meter.model = shown(model)
            raise RequestError(f"model: at most {MAX_MODEL_CHARS} characters", code="invalid_model", param="model")
        admitted.meter.model = model
        check_model(admitted.limits, model)
        if model == "auto" and "auto" not in self.catalog.models and body is not None and self.health is not None:
            prefer = (body.get("routing") or {}).get("prefer") or self.settings.default_prefer
            if admitted.limits.models == ("auto",):
                prefer = "cost"          # a plan held to `auto` (free) does not pick the priciest model itself
            return auto(self.catalog, self.health, body, prefer)
        resolution = self.catalog.resolve(model)
        if resolution.info is None and admitted.limits.credits is not None:
            unpriced = [r.provider for r in resolution.routes if self._default_price(r.provider) is None]
            if unpriced:
                raise GatewayError(f"'{shown(model)}' is no configured model, and {unpriced[0]} has no default_price: "
                                   "a key that pays from credits may use only what the gateway can price",
                                   code="model_not_priced", status=403, param="model")
        return resolution

    def policy(self, resolution: Resolution) -> Policy:
        """Each attempt is bounded by its provider's `timeout_s`; the whole request by the sum over
        its routes, which a wait on Retry-After must also fit in."""
        budget = sum(self.config.providers[r.provider].timeout_s for r in resolution.routes
                     if r.provider in self.config.providers)
        return Policy(self.health, budget or None, self.settings.retry_after_max_s)

    async def first(self, resolution: Resolution, attempt: Callable[[ChatAdapter, Route], Awaitable[T]],
                    fallback: bool = True, meter: Meter | None = None) -> Outcome[T]:
        """The first route that answers (core.fallback); each attempt is noted on `meter`, by default
        the request's own, so its usage record names the providers that failed and the one that answered."""
        return await first_success(resolution, self.adapters, attempt, fallback, self.policy(resolution),
                                   tried=_tried(meter))

    async def first_stream(self, resolution: Resolution, open_stream: OpenStream,
                           fallback: bool = True) -> Outcome[tuple[Any, AsyncGenerator[Any, None]]]:
        return await first_stream(resolution, self.adapters, open_stream, fallback, self.policy(resolution),
                                  tried=_tried(None))

    async def hold(self, admitted: Admitted, resolution: Resolution, output_limit: Any,
                   extra_micro: float = 0.0) -> None:
        """For a key that pays from credits, hold what this request may cost before it is served (see
        Admission.hold): its prompt (a token per 4 bytes of body) at the dearest input price among its
        routes, `output_limit` (the request's own, as it wrote it: HOLD_OUTPUT_TOKENS unless it is a
        positive integer) at the dearest output price, and `extra_micro` (per-image prices)."""
        meter = admitted.meter
        if admitted.limits.credits is None or not meter.billable or meter.held:
            return
        prices = [p for r in resolution.routes if (p := self._prices(resolution, r)) is not None] or [FREE]
        output = output_limit if type(output_limit) is int and output_limit > 0 else HOLD_OUTPUT_TOKENS
        estimate = (meter.request_bytes // 4 * max(p[0] for p in prices) + output * max(p[1] for p in prices)
                    + extra_micro)
        meter.held = await self.admission.hold(admitted.key, admitted.limits, math.ceil(estimate))

    def _prices(self, resolution: Resolution, route: Route) -> tuple[float, float, float, float] | None:
        """A route's prices: its model's, else its provider's default_price; None when nothing prices it."""
        info = resolution.info or self.catalog.info_of(route)
        default = self._default_price(route.provider)
        return info.prices if info else default.per_token if default else None

    def bill(self, meter: Meter, resolution: Resolution, route: Route, usage: dict[str, Any] | None = None) -> None:
        """Who served the request, and what it used at the model's prices."""
        meter.provider, meter.mapped_model = route.provider, route.model
        meter.used(usage, self._prices(resolution, route) or FREE)

    def _default_price(self, provider: str) -> Price | None:
        config = self.config.providers.get(provider)
        return config.default_price if config is not None else None

    async def aclose(self) -> None:
        if self.usage is not None:
            await self.usage.flush()
        await asyncio.gather(*(adapter.aclose() for adapter in self.adapters.values()))
        if self.db is not None:
            await self.db.aclose()
        if self.observer is not None:
            await self.observer.aclose()
        for close in self.closers:
            close()


def _tried(meter: Meter | None) -> Callable[[Attempt], None] | None:
    """Where attempts are noted: `meter`, else the request's own meter (none before a key is
    admitted); and, when the request is traced, with the time each ended, for its client spans."""
    this = context.current()
    meter = meter if meter is not None else this.meter
    ended = this.attempts_ended
    if meter is None or ended is None:
        return meter.tried if meter is not None else None
    noted = meter.tried

    def traced(attempt: Attempt) -> None:
        noted(attempt)
        if len(ended) < MAX_TRACED_ATTEMPTS:
            ended.append((attempt, time.time_ns()))
    return traced
