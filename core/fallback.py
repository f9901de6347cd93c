"""The fallback loop: try a resolution's routes in order until one answers.

A route that fails before its first byte with a retryable ProviderError is followed by the next.
When every route failed, the client learns the most specific truth: every route rate-limited →
429 provider_rate_limit; every route unreachable → 503 all_providers_unavailable; otherwise 502
provider_error, naming what each route did.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.catalog import Resolution, Route
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderUnavailable,
)
from core.types import ChatAdapter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T
    route: Route
    reason: str                          # for `_routing.reason`
    failures: tuple[ProviderError, ...]  # routes that failed before this one answered


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


async def first_success(
    resolution: Resolution,
    adapters: Mapping[str, ChatAdapter],
    attempt: Callable[[ChatAdapter, Route], Awaitable[T]],
    fallback: bool = True,
) -> Outcome[T]:
    routes = resolution.routes if fallback else resolution.routes[:1]
    failures: list[ProviderError] = []
    for route in routes:
        try:
            value = await attempt(adapters[route.provider], route)
        except ProviderError as err:
            if not err.retryable:
                raise
            err.provider = err.provider or route.provider
            failures.append(err)
            continue
        reason = resolution.reason
        if failures:
            tried = ", ".join(f"{f.provider} ({f.code})" for f in failures)
            reason += f"; fell back after {tried} failed"
        return Outcome(value, route, reason, tuple(failures))
    raise _all_failed(resolution, failures)


async def first_stream(
    resolution: Resolution,
    adapters: Mapping[str, ChatAdapter],
    open_stream: Callable[[ChatAdapter, Route], AsyncGenerator[Any, None]],
    fallback: bool = True,
) -> Outcome[tuple[Any, AsyncGenerator[Any, None]]]:
    """The first route whose stream yields its first item: until then, fallback is still possible;
    after it, the stream is committed (its first item, or None for an empty stream, and the rest)."""

    async def attempt(adapter: ChatAdapter, route: Route) -> tuple[Any, AsyncGenerator[Any, None]]:
        stream = open_stream(adapter, route)
        return await anext(stream, None), stream

    return await first_success(resolution, adapters, attempt, fallback)


def capability(adapter: ChatAdapter, name: str) -> Callable[..., Awaitable[Any]]:
    """An adapter's method for an endpoint beyond chat (`embeddings`, `images`); a provider without
    it is unavailable for the request, so fallback moves on to a route that has it."""
    method = getattr(adapter, name, None)
    if method is None:
        raise ProviderUnavailable(f"{adapter.name} does not serve {name}", provider=adapter.name)
    return method  # type: ignore[no-any-return]


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
