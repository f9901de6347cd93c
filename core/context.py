"""The request in flight: one object the middleware makes for each request and everything below it
reads through `current()` — its id, its usage meter (set when the key is admitted), the rate-limit
headers its answer carries, and how a streamed answer really ended (its response said 200 before).

A contextvar carries it: the endpoint runs in the middleware's task, and the tasks a stream starts
copy the context, so all of them see the same object without passing it through Starlette's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.usage import Attempt, Meter

NO_HEADERS: Mapping[str, str] = MappingProxyType({})
MAX_TRACED_ATTEMPTS = 32      # client spans a traced request keeps (its upstream attempts), at most
# What a streamed answer's usage record says when the client left first (nginx's 499).
CLIENT_GONE = 499


class RequestContext:
    __slots__ = ("attempts_ended", "meter", "rate_headers", "request_id", "stream_status", "streamed", "traceparent")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.meter: Meter | None = None                   # set when the key is admitted
        self.rate_headers: Mapping[str, str] = NO_HEADERS
        self.streamed = False                             # the answer is an event stream (core.http.EventStream)
        self.stream_status: int | None = None             # a stream's real end: an error's status, or CLIENT_GONE
        self.traceparent: str | None = None               # what upstream calls carry, when tracing is on
        # A sampled request's upstream attempts as each ended (the attempt, time.time_ns()): its
        # client spans, made with its server span when it ends (core.tracing). None: not traced.
        self.attempts_ended: list[tuple[Attempt, int]] | None = None


_current: ContextVar[RequestContext | None] = ContextVar("apex_request", default=None)


def begin(request_id: str) -> RequestContext:
    """A new request's context, current from here on in this task (and the tasks it starts)."""
    context = RequestContext(request_id)
    _current.set(context)
    return context


def current() -> RequestContext:
    """The request's context; one of its own for code run without the middleware (a test's app)."""
    context = _current.get()
    return context if context is not None else begin("")


def traceparent() -> str | None:
    """The `traceparent` header an upstream call carries (tracing on), else None."""
    context = _current.get()
    return context.traceparent if context is not None else None
