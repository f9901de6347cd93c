"""What every HTTP adapter shares: one pooled aiohttp session per provider, and upstream failures
translated into core's error tree once, here at the boundary.

aiohttp directly, not httpx: measured on one core at 64 connections (bench/README.md), a thin proxy
does 6,750 rps on aiohttp, 3,970 through httpx-aiohttp's transport called bare, 3,060 through
`httpx.AsyncClient` on that transport and 610 on httpx's own pool (encode/httpx#3215).

aiohttp is imported on first use, not at import: it costs ~100 ms (it builds two SSL contexts),
which a Lambda function that never calls an upstream should not pay at cold start.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from core.context import traceparent
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UpstreamRejected,
    shown,
)
from core.types import JSON

if TYPE_CHECKING:
    import aiohttp

# Upstream statuses that are about the request itself: every route would refuse it the same way.
REJECTED = frozenset({400, 413, 422})


def traced(headers: Mapping[str, str]) -> Mapping[str, str]:
    """An upstream call's headers, with the request's `traceparent` when it is traced (core.tracing)."""
    parent = traceparent()
    return headers if parent is None else {**headers, "traceparent": parent}


@dataclass(slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class HttpClient:
    """Pooled keep-alive connections to one provider. The session is made on first use, inside the
    running event loop, and lives as long as the process (one cold start on Lambda)."""

    def __init__(self, provider: str, timeout_s: float, connect_timeout_s: float = 10.0) -> None:
        self.provider = provider
        self._timeout_s = timeout_s
        self._connect_s = min(timeout_s, connect_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._whole: Any = None
        self._streaming: Any = None

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            # A buffered answer must be whole within timeout_s; a stream must start, and keep
            # producing, within timeout_s between reads, however long it runs in all.
            self._whole = aiohttp.ClientTimeout(total=self._timeout_s, sock_connect=self._connect_s)
            self._streaming = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_s,
                                                    sock_read=self._timeout_s)
            connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=30, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        pool, headers = self._pool(), traced(headers)
        with transport_errors(self.provider):
            async with pool.post(url, data=body, headers=headers, timeout=self._whole,
                                 allow_redirects=False) as response:
                return Answer(response.status, response.headers, await response.read())

    async def post_json(self, url: str, payload: JSON, headers: Mapping[str, str],
                        error: Callable[[Answer], ProviderError]) -> JSON:
        """POST a JSON body; the answer's JSON object, or `error(answer)` for a non-200."""
        answer = await self.post(url, orjson.dumps(payload), headers)
        if answer.status != 200:
            raise error(answer)
        try:
            parsed = orjson.loads(answer.body)
        except orjson.JSONDecodeError as exc:
            raise ProviderFailed(f"{self.provider}: answer is not JSON", provider=self.provider) from exc
        if not isinstance(parsed, dict):
            raise ProviderFailed(f"{self.provider}: answer is not a JSON object", provider=self.provider)
        return parsed

    @contextlib.asynccontextmanager
    async def stream(self, url: str, body: bytes, headers: Mapping[str, str]) -> AsyncIterator[StreamingAnswer]:
        """A streamed answer. A reader that stops at the stream's own end ([DONE], message_stop) leaves
        the body's last bytes unread; they are read here, so the connection goes back to the pool
        instead of being closed (a reader stopped by an error or a client gone closes it)."""
        pool, headers = self._pool(), traced(headers)
        with transport_errors(self.provider):
            async with pool.post(url, data=body, headers=headers, timeout=self._streaming,
                                 allow_redirects=False) as response:
                yield StreamingAnswer(self.provider, response)
                await _drained(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


DRAIN_BYTES, DRAIN_S = 64 * 1024, 1.0


async def _drained(response: aiohttp.ClientResponse) -> None:
    """What is left of a finished stream (its terminating chunk), read within bounds."""
    left = DRAIN_BYTES
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            while left > 0 and (piece := await response.content.readany()):
                left -= len(piece)


class StreamingAnswer:
    def __init__(self, provider: str, response: aiohttp.ClientResponse) -> None:
        self._provider = provider
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self, limit: int = 64 * 1024) -> bytes:
        with transport_errors(self._provider):
            return await self._response.content.read(limit)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, failures translated."""
        with transport_errors(self._provider):
            async for chunk in self._response.content.iter_any():
                yield chunk


@contextlib.contextmanager
def transport_errors(provider: str) -> Iterator[None]:
    """Translate what the network can throw into ProviderErrors, chained to the original."""
    import aiohttp  # already loaded by the request this guards

    try:
        yield
    except ProviderError:
        raise
    except aiohttp.ClientConnectorError as exc:
        raise ProviderUnavailable(f"{provider}: could not connect", provider=provider) from exc
    except TimeoutError as exc:   # aiohttp's own timeouts are TimeoutErrors too
        raise ProviderTimeout(f"{provider}: timed out", provider=provider) from exc
    except aiohttp.ClientError as exc:
        raise ProviderFailed(f"{provider}: connection failed ({type(exc).__name__})", provider=provider) from exc


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The upstream's Retry-After (or retry-after-ms), in seconds; None when absent or not a finite
    delay (`nan`, `inf`, a negative number, a date that cannot be read)."""
    seconds: float | None = None
    if value := headers.get("retry-after-ms"):
        with contextlib.suppress(ValueError):
            seconds = float(value) / 1000
    elif value := headers.get("retry-after"):
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def status_error(provider: str, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> ProviderError:
    """The ProviderError for an upstream's non-2xx answer; `message` is the upstream's own text."""
    message = shown(message, 1000)
    if status == 429:
        return ProviderRateLimited(f"{provider}: rate limited upstream", provider=provider, upstream_status=status,
                                   retry_after=retry_after(headers or {}))
    if status in REJECTED:
        return UpstreamRejected(message or f"{provider} rejected the request", status=status, code=code,
                                param=param, provider=provider)
    if status in (401, 403):
        # The provider refused *our* credentials: never echo its text (it may quote the key).
        return ProviderFailed(f"{provider}: upstream refused the gateway's credentials ({status})",
                              provider=provider, upstream_status=status)
    if status in (408, 504):
        return ProviderTimeout(f"{provider}: upstream timed out ({status})", provider=provider, upstream_status=status)
    detail = f": {message}" if message and status < 500 else ""
    return ProviderFailed(f"{provider}: upstream returned {status}{detail}", provider=provider, upstream_status=status)
