"""The model table: what a client may name, and the ordered routes each name leads to.

A name is a configured model id or alias, or `PROVIDER/MODEL` (straight to that provider). The
table is built once per process from the config and the set of providers that have an adapter.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from core.config import Config
from core.errors import ProviderUnavailable, RequestError, shown


@dataclass(frozen=True, slots=True)
class Route:
    provider: str
    model: str


# USD per 1M tokens: input, output, cache reads, cache writes.
Prices = tuple[float, float, float, float]
FREE: Prices = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    type: str
    context_window: int | None
    price_in: float            # USD per 1M tokens
    price_out: float
    quality: int
    latency_ms: float | None
    deprecated: bool
    replacement: str | None
    routes: tuple[Route, ...]
    supports: tuple[str, ...] = ("tools", "json")
    price_cache: tuple[float, float] = (0.0, 0.0)   # cache reads, cache writes: USD per 1M tokens
    price_image: float = 0.0                         # USD per image generated
    reasoning: bool = False
    priced: bool = True        # False: the config gives no price, so the cost is unknown (not zero)

    @property
    def owner(self) -> str:
        return self.routes[0].provider if self.routes else ""

    @property
    def prices(self) -> Prices:
        return (self.price_in, self.price_out, *self.price_cache)


@dataclass(frozen=True, slots=True)
class Resolution:
    requested: str
    info: ModelInfo | None      # whose context window and prices apply; None if unknown
    routes: tuple[Route, ...]   # in the order they are tried
    reason: str


ENDPOINT_OF_TYPE = {"chat": "/v1/chat/completions", "completion": "/v1/completions",
                    "embedding": "/v1/embeddings", "image": "/v1/images/generations"}


def model_not_found(name: str) -> RequestError:
    return RequestError(f"The model '{shown(name)}' does not exist", code="model_not_found", status=404,
                        param="model")


def require_type(resolution: Resolution, *allowed: str) -> None:
    """A model used on the wrong endpoint gets a 400 that names the right one."""
    info = resolution.info
    if info is not None and info.type not in allowed:
        raise RequestError(f"'{shown(resolution.requested)}' is {'an' if info.type[0] in 'aeiou' else 'a'} {info.type} "
                           f"model: use {ENDPOINT_OF_TYPE[info.type]}", code="wrong_model_type", param="model")


class Catalog:
    def __init__(self, config: Config, available: Collection[str]) -> None:
        self._available = frozenset(available)
        self._providers = config.providers
        self.models: dict[str, ModelInfo] = {
            mid: ModelInfo(
                id=mid, type=m.type, context_window=m.context_window, price_in=m.price.input,
                price_out=m.price.output, price_cache=m.price.per_token[2:], quality=m.quality, latency_ms=m.latency_ms,
                deprecated=m.deprecated, replacement=m.replacement,
                routes=tuple(Route(r.provider, r.model) for r in m.routes), supports=tuple(m.supports),
                reasoning=m.reasoning, price_image=m.price.image, priced=m.priced,
            )
            for mid, m in config.models.items()
        }
        # PROVIDER/MODEL names borrow the limits and prices of the configured model they reach.
        self._by_route: dict[Route, ModelInfo] = {}
        for info in self.models.values():
            for route in info.routes:
                self._by_route.setdefault(route, info)
        self._cache: dict[str, Resolution] = {}

    def resolve(self, name: str) -> Resolution:
        """The routes for `name`, memoized: config is immutable for the life of the process."""
        found = self._cache.get(name)
        if found is None:
            found = self._resolve(name)
            if len(self._cache) < 4096 and len(name) <= 256:
                self._cache[name] = found
        return found

    def _resolve(self, name: str) -> Resolution:
        info = self.models.get(name)
        if info is not None:
            if info.deprecated:
                use = f"; use '{info.replacement}' instead" if info.replacement else ""
                raise RequestError(f"The model '{shown(name)}' is deprecated and no longer served{use}",
                                   code="deprecated_model", param="model")
            routes = tuple(r for r in info.routes if r.provider in self._available)
            if not routes:
                raise self._unavailable(name, info.routes)
            reason = "configured model" if len(routes) == 1 else f"alias with {len(routes)} routes"
            return Resolution(name, info, routes, reason)
        provider, sep, model = name.partition("/")
        if sep and model and provider in self._providers:
            route = Route(provider, model)
            if provider not in self._available:
                raise self._unavailable(name, (route,))
            return Resolution(name, self._by_route.get(route), (route,), f"explicit provider {provider}")
        raise model_not_found(name)

    def _unavailable(self, name: str, routes: tuple[Route, ...]) -> ProviderUnavailable:
        envs = sorted({self._providers[r.provider].api_key_env or r.provider for r in routes})
        return ProviderUnavailable(
            f"No provider for '{shown(name)}' is available: set {', '.join(envs)}", provider=routes[0].provider)

    def routes_of(self, info: ModelInfo) -> tuple[Route, ...]:
        """A model's routes whose providers are available, in order."""
        return tuple(r for r in info.routes if r.provider in self._available)

    def available(self, info: ModelInfo) -> bool:
        return bool(self.routes_of(info))

    def info_of(self, route: Route) -> ModelInfo | None:
        """The configured model a route belongs to (its prices, its window)."""
        return self._by_route.get(route)

    def listed(self, provider: str | None = None, type: str | None = None) -> list[ModelInfo]:
        """Models a client can reach, optionally filtered (the `/v1/models` query)."""
        return [
            info for info in self.models.values()
            if not info.deprecated
            and any(r.provider in self._available for r in info.routes)
            and (provider is None or any(r.provider == provider for r in info.routes))
            and (type is None or info.type == type)
        ]
