"""The fallback loop: try a resolution's routes in order until one answers.

A route that fails before its first byte with a retryable ProviderError is followed by the next.
When every route failed, the client learns the most specific truth: every route rate-limited →
429 provider_rate_limit; every route unreachable → 503 all_providers_unavailable; otherwise 502
provider_error, naming what each route did. Each attempt is told to `tried` (the request's usage
meter), so the usage record says which provider failed how, and which one answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.catalog import Resolution, Route
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UpstreamRejected,
)
from core.routing import Health
from core.types import ChatAdapter
from core.usage import Attempt

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T
    route: Route
    reason: str                          # for `_routing.reason`
    failures: tuple[ProviderError, ...]  # routes that failed before this one answered


def routing_info(resolution: Resolution, outcome: Outcome[Any]) -> dict[str, str]:
    """An answer's `_routing`: which provider and model served the name asked for, and why."""
    return {"provider": outcome.route.provider, "original_model": resolution.requested,
            "mapped_model": outcome.route.model, "reason": outcome.reason}


def _all_failed(resolution: Resolution, failures: list[ProviderError]) -> ProviderError:
    if len(failures) == 1:
        return failures[0]
    summary = "; ".join(f"{f.provider}: {f.message}" for f in failures)
    if all(isinstance(f, ProviderRateLimited) for f in failures):
        waits = [f.retry_after for f in failures if isinstance(f, ProviderRateLimited) and f.retry_after]
        return ProviderRateLimited(f"Every route for '{resolution.requested}' is rate limited: {summary}",
                                   retry_after=min(waits) if waits else None)
    if all(isinstance(f, ProviderUnavailable) for f in failures):
        return ProviderUnavailable(f"No route for '{resolution.requested}' is available: {summary}")
    return ProviderFailed(f"Every route for '{resolution.requested}' failed: {summary}")


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard to try: circuit breakers and latency (health), a time budget for the whole request,
    and the longest Retry-After worth waiting for when a single route is rate limited."""

    health: Health | None = None
    budget_s: float | None = None
    retry_after_max_s: float = 0.0


NO_POLICY = Policy()
Tried = Callable[[Attempt], None]


def outcome_of(err: ProviderError) -> str:
    """A failed attempt in a usage record's words (see core.usage.Attempt): the upstream's status
    when it answered one, else what kind of failure it was."""
    if err.upstream_status:
        return f"error {err.upstream_status}"
    if isinstance(err, ProviderRateLimited | UpstreamRejected):
        return f"error {err.status}"
    if isinstance(err, ProviderTimeout):
        return "timeout"
    if isinstance(err, ProviderUnavailable):
        return "unavailable"
    return "failed"


def _noted(tried: Tried | None, route: Route, outcome: str, started: float) -> None:
    if tried is not None:
        tried(Attempt(route.provider, outcome, round((time.monotonic() - started) * 1000), route.model))


async def first_success(
    resolution: Resolution,
    adapters: Mapping[str, ChatAdapter],
    attempt: Callable[[ChatAdapter, Route], Awaitable[T]],
    fallback: bool = True,
    policy: Policy = NO_POLICY,
    first_byte: bool = False,
    tried: Tried | None = None,
) -> Outcome[T]:
    """The first route whose attempt succeeds. A route's circuit counts only the failures a client
    cannot cause: a buffered answer that outlasts its timeout may just be a long one the client asked
    for, so only a stream's wait for its first item (`first_byte`) counts its timeouts. Every attempt,
    a route skipped for its open circuit included, is told to `tried`."""
    routes = resolution.routes if fallback else resolution.routes[:1]
    health = policy.health
    deadline = time.monotonic() + policy.budget_s if policy.budget_s else None
    failures: list[ProviderError] = []
    for route in routes:
        if health is not None and not health.allow(route):
            failures.append(health.skipped(route))
            _noted(tried, route, "circuit_open", time.monotonic())
            continue
        waited = False
        while True:
            started = time.monotonic()
            try:
                if deadline is None or len(routes) == 1:    # one route: its own timeout is the budget
                    value = await attempt(adapters[route.provider], route)
                else:
                    async with asyncio.timeout(max(0.0, deadline - started)):
                        value = await attempt(adapters[route.provider], route)
            except TimeoutError:
                err: ProviderError = ProviderTimeout(f"{route.provider}: the request's time budget ran out",
                                                     provider=route.provider)
            except ProviderError as exc:
                err = exc
            else:
                _noted(tried, route, "ok", started)
                if health is not None:
                    health.success(route, time.monotonic() - started)
                reason = resolution.reason
                if failures:
                    failed = ", ".join(f"{f.provider} ({f.code})" for f in failures)
                    reason += f"; fell back after {failed} failed"
                return Outcome(value, route, reason, tuple(failures))
            _noted(tried, route, outcome_of(err), started)
            if not err.retryable:
                if health is not None:
                    health.success(route, time.monotonic() - started)   # it answered: the request was wrong
                raise err
            if health is not None and (first_byte or not isinstance(err, ProviderTimeout)):
                health.failure(route)
            wait = err.retry_after if isinstance(err, ProviderRateLimited) else None
            if (not waited and len(routes) == 1 and wait is not None and wait <= policy.retry_after_max_s
                    and (deadline is None or time.monotonic() + wait < deadline)):
                waited = True
                await asyncio.sleep(wait)       # the only route asked for a short pause: honour it once
                continue
            err.provider = err.provider or route.provider
            failures.append(err)
            break
    raise _all_failed(resolution, failures)


async def first_stream(
    resolution: Resolution,
    adapters: Mapping[str, ChatAdapter],
    open_stream: Callable[[ChatAdapter, Route], AsyncGenerator[Any, None]],
    fallback: bool = True,
    policy: Policy = NO_POLICY,
    tried: Tried | None = None,
) -> Outcome[tuple[Any, AsyncGenerator[Any, None]]]:
    """The first route whose stream yields its first item: until then, fallback is still possible;
    after it, the stream is committed (its first item, or None for an empty stream, and the rest)."""

    async def attempt(adapter: ChatAdapter, route: Route) -> tuple[Any, AsyncGenerator[Any, None]]:
        stream = open_stream(adapter, route)
        return await anext(stream, None), stream

    return await first_success(resolution, adapters, attempt, fallback, policy, first_byte=True, tried=tried)


def require(adapter: ChatAdapter, capability: str) -> None:
    """A provider that does not serve `capability` (embeddings, images, …) is unavailable for the
    request, so fallback moves on to a route that does."""
    if capability not in adapter.serves:
        raise ProviderUnavailable(f"{adapter.name} does not serve {capability}", provider=adapter.name)


async def prepend(first: Any, rest: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    """A committed stream whole again: its first item (None: none), then the rest; closing it closes
    the source."""
    try:
        if first is not None:
            yield first
            async for item in rest:
                yield item
    finally:
        await rest.aclose()
