"""A fake Lambda Runtime API over real HTTP on loopback: hands out events and records each response
exactly as Lambda receives it (chunk by chunk with arrival times, prelude, delimiter, trailers).

It is the emulator `apex invoke` runs against (handlers/runtime_api.py), plus helpers to build
events from the real-shaped samples in events/, and `LambdaProcess`: a function started as a
process the way Lambda starts it (handlers/lambda_local.py), fed events one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from handlers.lambda_local import Code, Function, start
from handlers.runtime_api import Received, RuntimeAPIEmulator

EVENTS = Path(__file__).resolve().parents[2] / "events"

__all__ = ["EVENTS", "FakeRuntimeAPI", "LambdaProcess", "Received", "event"]

T = TypeVar("T")


class FakeRuntimeAPI(RuntimeAPIEmulator):
    """The emulator, named for what the tests use it as."""


def event(name: str, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A sample event from events/, with the caller's key (and body, if given) put in."""
    sample = json.loads((EVENTS / name).read_text())
    headers, multi = sample.get("headers") or {}, sample.get("multiValueHeaders") or {}
    for header in [h for h in headers if h.lower() in ("authorization", "x-api-key")]:
        headers[header] = f"Bearer {key}" if header.lower() == "authorization" else key
    for header in [h for h in multi if h.lower() in ("authorization", "x-api-key")]:
        multi[header] = [f"Bearer {key}" if header.lower() == "authorization" else key]
    if body is not None:
        sample["body"] = json.dumps(body)
    return sample


class LambdaProcess:
    """One function's process and the Runtime API it polls, which runs on a thread of its own so a
    test drives it step by step. The process's output is kept in a file (`log()`)."""

    def __init__(self, function: Function, code: Code, overrides: Mapping[str, str]) -> None:
        self.function = function
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="runtime-api", daemon=True)
        self._thread.start()
        self.api = FakeRuntimeAPI([])
        address = self._run(self.api.start())
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close(), with the process
        self.process = start(function, code, address, overrides, stdout=self._log, stderr=subprocess.STDOUT)

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def send(self, sample: dict[str, Any]) -> Received:
        """Queues an event; its Received fills in as the function answers."""
        async def add() -> Received:
            return self.api.received[self.api.add(sample)]

        return self._run(add())

    def wait(self, received: Received, timeout: float = 30) -> Received:
        """Until the invocation is answered; fails, with the function's log, if the process dies first."""
        async def answered() -> None:
            while not received.done.is_set():
                if self.process.poll() is not None:
                    raise AssertionError(f"the function exited ({self.process.returncode}):\n{self.log()}")
                with contextlib.suppress(TimeoutError):    # the process is looked at between waits
                    await asyncio.wait_for(received.done.wait(), 0.2)

        try:
            self._run(answered(), timeout)
        except TimeoutError:
            raise AssertionError(f"no answer within {timeout} s:\n{self.log()}") from None
        return received

    def invoke(self, sample: dict[str, Any], timeout: float = 30) -> Received:
        return self.wait(self.send(sample), timeout)

    def polled(self, count: int, timeout: float = 30) -> None:
        """Until the function has asked for work `count` times (the first ends its init)."""
        self._run(self.api.polled(count), timeout)

    def init_error(self, timeout: float = 30) -> dict[str, Any]:
        """What the function reported to `init/error`; fails if its init ended in a poll instead."""
        async def first() -> None:
            waits = [asyncio.ensure_future(self.api.init_failed.wait()), asyncio.ensure_future(self.api.polled(1))]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

        self._run(first(), timeout)
        assert self.api.init_error is not None, f"the init succeeded:\n{self.log()}"
        return self.api.init_error

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def close(self) -> str:
        """Stops the process and the Runtime API; returns the process's log."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(10)
        self._run(self.api.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()
        output = self.log()
        self._log.close()
        return output
