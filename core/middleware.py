"""The gateway's one middleware: every request's id, context, rate-limit headers and usage record."""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import context
from core.errors import GatewayError
from core.observe import Observer
from core.usage import Meter, UsageRecorder, usd

log = logging.getLogger("apex.usage")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Request ids: a random per-process prefix and a counter; unique without a syscall per request.
_ID_PREFIX = "req_" + os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def request_id_of(scope: Scope) -> str:
    """The client's `X-Request-Id` when it is sane (letters, digits, `._:-`, up to 128), else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


class GatewayMiddleware:
    """Around every request: its context (core.context) with an id echoed on the response, the
    key's X-RateLimit headers, a buffered answer's cost (`X-Apex-Cost`), and — once the response has
    gone out — the request's usage, from the meter the route filled in, and what `observer` reports
    of it (core.observe). Pure ASGI: a BaseHTTPMiddleware costs a task a request."""

    def __init__(self, app: ASGIApp, recorder: UsageRecorder | None = None, observer: Observer | None = None,
                 expose_cost: bool = True) -> None:
        """`expose_cost`: buffered answers carry X-Apex-Cost (the gateway's setting)."""
        self.app = app
        self.recorder = recorder
        self.observer = observer
        self.expose_cost = expose_cost

    async def _settle(self, meter: Meter) -> None:
        """A credit hold traded for the request's cost, once it is known (the response has gone out)."""
        if self.recorder is None:
            return
        try:
            await self.recorder.settle(meter)
        except GatewayError as exc:     # the hold stays: the key's credits look spent a little early
            log.warning("credit hold of %s not settled: %s", meter.key_id, exc.message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = context.begin(request_id_of(scope))
        status = 500
        observer = self.observer
        started = time.monotonic() if observer is not None else 0.0
        first_byte: float | None = None
        begun = observer.begin(request, scope) if observer is not None else None

        async def send_with_headers(message: Message) -> None:
            nonlocal status, first_byte
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", request.request_id.encode())]
                if request.rate_headers:
                    headers += [(k.lower().encode(), v.encode()) for k, v in request.rate_headers.items()]
                meter = request.meter
                if self.expose_cost and meter is not None and meter.billable and status < 400 and not request.streamed:
                    headers.append((b"x-apex-cost", usd(meter.cost).encode()))
                message["headers"] = headers
            elif first_byte is None and observer is not None and message.get("body"):
                first_byte = time.monotonic()
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            meter = request.meter
            if meter is not None and meter.billable and self.recorder is not None:
                self.recorder.record_meter(meter, request.stream_status or status)
                if meter.held:
                    await self._settle(meter)
            if observer is not None:
                try:
                    observer.end(request, scope, request.stream_status or status, started, first_byte, begun)
                except Exception:
                    log.exception("could not report request %s", request.request_id)
