"""What every fake upstream shares: an aiohttp app on 127.0.0.1 in its own thread and event loop,
a record of what it received, scripted faults (next N requests 500 / 429 / hang / drop) or random
ones (a share of all requests), and a count of the requests whose client went away mid-answer."""

from __future__ import annotations

import abc
import asyncio
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from aiohttp import web

FAULT_KINDS = ("500", "503", "429", "400", "401", "hang", "drop", "drop_after", "error_event")


@dataclass
class Fault:
    kind: str
    after_chunks: int = 0          # drop_after / error_event: how many chunks go out first
    retry_after: float | None = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    raw_path: str = ""              # as sent, still percent-encoded
    peer: Any = None                # the client's (host, port): one per TCP connection


F = TypeVar("F", bound="FakeServer")


class FakeServer(abc.ABC):
    """Subclasses add routes in `routes()`; tests read `received` and call `fail_next`."""

    # Numeric fields the real API refuses (400) outside these ranges.
    bounds: dict[str, tuple[float, float]] = {}

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.received: list[Received] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.hang_s = 30.0           # a "hang" never outlives this, so no test can wedge
        self.chunk_delay_s = 0.0
        self.latency_s = 0.0         # before the first byte of every answer
        self._hold: tuple[int, threading.Event] | None = None
        self._random: tuple[float, tuple[str, ...], random.Random] | None = None
        self.injected: dict[str, int] = {}    # faults served, by kind
        self.cancelled = 0                    # handlers stopped because the client hung up
        self._cancel_seen = threading.Condition()
        self.tool: tuple[str, dict[str, Any]] | None = None   # the scripted tool call (call_tool)
        self.plain = False                    # answer in text though tools are offered (answer_plainly)
        self.once = False
        self.response_headers: dict[str, str] = {}   # added to every answer (what must not pass through)

    # -- scripting ------------------------------------------------------------------------------
    def call_tool(self, name: str, arguments: dict[str, Any], once: bool = False) -> None:
        """From now on (until reset), a request offering tool `name` gets a call to it with `arguments`;
        `once`: only the first such request, and answers in text after it (answer_plainly)."""
        self.tool, self.once = (name, arguments), once

    def answer_plainly(self) -> None:
        """From now on (until reset), answer in text though tools are offered, as a model does when it
        needs none."""
        self.plain = True

    def tool_call(self, offered: list[str], default: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The call a model makes when offered these tools: none when answering plainly, else the
        scripted one if it is offered, else the first tool with `default` arguments."""
        if self.plain or not offered:
            return None
        if self.tool is not None and self.tool[0] in offered:
            self.plain = self.once
            return self.tool
        return offered[0], default

    def fail_next(self, n: int = 1, kind: str = "500", after_chunks: int = 0,
                  retry_after: float | None = None) -> None:
        assert kind in FAULT_KINDS, kind
        with self._lock:
            self._faults.extend(Fault(kind, after_chunks, retry_after) for _ in range(n))

    def fail_randomly(self, rate: float, kinds: tuple[str, ...], seed: int = 0) -> None:
        """From now on a `rate` share of requests (those no scripted fault claims) fail, each with a
        kind drawn from `kinds`; seeded, so a run can be repeated."""
        assert all(kind in FAULT_KINDS for kind in kinds), kinds
        self._random = (rate, kinds, random.Random(seed))

    def take_fault(self) -> Fault | None:
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is None and self._random is not None:
                rate, kinds, rng = self._random
                if rng.random() < rate:
                    fault = Fault(rng.choice(kinds))
            if fault is not None:
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            return fault

    def wait_cancelled(self, count: int, timeout: float = 10) -> bool:
        """Whether `count` handlers in all have been cancelled by their client leaving, within `timeout`."""
        with self._cancel_seen:
            return self._cancel_seen.wait_for(lambda: self.cancelled >= count, timeout)

    def hold_after(self, chunks: int) -> threading.Event:
        """The next stream stops after `chunks` chunks until the returned event is set."""
        gate = threading.Event()
        self._hold = (chunks, gate)
        return gate

    def reset(self) -> None:
        self.tool, self.plain, self.once = None, False, False
        with self._lock:
            self._faults.clear()
            self._random = None
            self.injected = {}
        self.received.clear()
        self.response_headers = {}
        self.chunk_delay_s = 0.0
        self.latency_s = 0.0
        if self._hold is not None:
            self._hold[1].set()
        self._hold = None

    @property
    def last(self) -> Received:
        return self.received[-1]

    # -- lifecycle ------------------------------------------------------------------------------
    @abc.abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add the fake's endpoints to `app`."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._watch])
            self.routes(app)
            app.on_response_prepare.append(self._add_headers)
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5,
                                         handler_cancellation=True)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.name} did not start")
        return self

    def __enter__(self: F) -> F:
        return self.start()     # type: ignore[return-value]

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # -- helpers for handlers -------------------------------------------------------------------
    async def record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body: Any = await request.json() if raw else None
        except ValueError:
            body = raw
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        self.received.append(Received(request.path, dict(request.headers), body, dict(request.query),
                                      request.raw_path.partition("?")[0], peer))
        if isinstance(body, dict):
            for field, (low, high) in self.bounds.items():
                value = body.get(field)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                          or not low <= value <= high):
                    raise ValueError(f"{field} is out of range")     # refused with the provider's 400
        return body

    # A fault kind's answer in the provider's format: (status, JSON body).
    fault_responses: ClassVar[dict[str, tuple[int, Any]]] = {}

    def refuse(self, fault: Fault) -> web.Response | None:
        """The fake's own error answer for a fault kind (500, 429, …), in its provider's format."""
        if fault.kind not in self.fault_responses:
            return None
        status, payload = self.fault_responses[fault.kind]
        headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
        return web.json_response(payload, status=status, headers=headers)

    async def begin(self, request: web.Request) -> tuple[Any, Fault | None, web.Response | None]:
        """Record the request and draw the next fault: (body, fault, the error answer to send if any)."""
        body = await self.record(request)
        fault = self.take_fault()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        await self.before_response(fault, request)
        return body, fault, self.refuse(fault) if fault is not None else None

    async def before_response(self, fault: Fault | None, request: web.Request) -> None:
        """Faults that strike before any byte of the answer: hang or drop the connection."""
        if fault is None:
            return
        if fault.kind == "hang":
            await asyncio.sleep(self.hang_s)
        elif fault.kind == "drop":
            drop(request)

    async def pause(self, sent: int) -> None:
        """Between chunks: the scripted delay, or a hold until the test releases the stream."""
        if self.chunk_delay_s:
            await asyncio.sleep(self.chunk_delay_s)
        if self._hold is not None and self._hold[0] == sent:
            gate = self._hold[1]
            self._hold = None
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, self.hang_s)


    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(self.response_headers)

    @web.middleware
    async def _watch(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """A fault's drop ends the handler quietly; a client hanging up is counted; a request of a shape
        the fake cannot read is refused with the provider's 400, as the real API validates it."""
        try:
            return await handler(request)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            refusal = self.refuse(Fault("400"))
            if refusal is None:
                raise
            return refusal
        except (Dropped, ConnectionResetError):
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            with self._cancel_seen:
                self.cancelled += 1
                self._cancel_seen.notify_all()
            raise


def example_of(schema: Any) -> Any:
    """The smallest value a JSON schema accepts: what a fake answers when structured output is asked."""
    if not isinstance(schema, dict):
        return {}
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: example_of(schema["properties"][name]) for name in schema.get("required", ())
                if name in schema.get("properties", {})}
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "array": []}.get(str(kind))


class Dropped(Exception):
    """Raised after a fake cuts its connection, so the handler writes nothing more."""


def drop(request: web.Request) -> None:
    assert request.transport is not None
    request.transport.abort()
    raise Dropped


def module_fake(name: str, make: Callable[[], FakeServer]) -> Any:
    """A module-scoped pytest fixture named `name`: a fake upstream, running for the module's tests
    (tests/conftest.py resets it before each test that uses it)."""
    import pytest

    @pytest.fixture(scope="module", name=name)
    def fake() -> Iterator[FakeServer]:
        with make() as running:
            yield running

    return fake
