"""What every HTTP adapter shares: the pooled client, and upstream failures translated into core's
error tree once, here at the boundary."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterator, Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UpstreamRejected,
)

# Upstream statuses that are about the request itself: every route would refuse it the same way.
REJECTED = frozenset({400, 413, 422})


def pooled_client(timeout_s: float) -> httpx.AsyncClient:
    """One per provider per process. httpx's own pool collapses under concurrency
    (encode/httpx#3215), so requests go through aiohttp's connector."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout)


@contextlib.contextmanager
def transport_errors(provider: str) -> Iterator[None]:
    """Translate what the network can throw into ProviderErrors, chained to the original.

    The aiohttp transport reports a refused connection and a server hang-up alike as
    httpx.ConnectTimeout, so the aiohttp exception underneath decides when there is one.
    """
    try:
        yield
    except ProviderError:
        raise
    except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
        if isinstance(cause, aiohttp.ClientConnectorError | httpx.ConnectError):
            raise ProviderUnavailable(f"{provider}: could not connect", provider=provider) from exc
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            raise ProviderTimeout(f"{provider}: timed out", provider=provider) from exc
        raise ProviderFailed(f"{provider}: connection failed ({type(cause).__name__})", provider=provider) from exc


def retry_after(headers: Mapping[str, str]) -> float | None:
    if value := headers.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            return float(value) / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(provider: str, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> ProviderError:
    """The ProviderError for an upstream's non-2xx answer; `message` is the upstream's own text."""
    if status == 429:
        return ProviderRateLimited(f"{provider}: rate limited upstream", provider=provider,
                                   retry_after=retry_after(headers or {}))
    if status in REJECTED:
        return UpstreamRejected(message or f"{provider} rejected the request", status=status, code=code,
                                param=param, provider=provider)
    if status in (401, 403):
        # The provider refused *our* credentials: never echo its text (it may quote the key).
        return ProviderFailed(f"{provider}: upstream refused the gateway's credentials ({status})",
                              provider=provider)
    if status in (408, 504):
        return ProviderTimeout(f"{provider}: upstream timed out ({status})", provider=provider)
    detail = f": {message}" if message and status < 500 else ""
    return ProviderFailed(f"{provider}: upstream returned {status}{detail}", provider=provider)
