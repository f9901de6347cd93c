"""A fake Lambda Runtime API over real HTTP on loopback: hands out events and records each response
exactly as Lambda receives it (chunk by chunk with arrival times, prelude, delimiter, trailers).

It is the emulator `apex invoke` runs against (handlers/runtime_api.py), plus helpers to build
events from the real-shaped samples in events/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handlers.runtime_api import Received, RuntimeAPIEmulator

EVENTS = Path(__file__).resolve().parents[2] / "events"

__all__ = ["EVENTS", "FakeRuntimeAPI", "Received", "event"]


class FakeRuntimeAPI(RuntimeAPIEmulator):
    """The emulator, named for what the tests use it as."""


def event(name: str, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A sample event from events/, with the caller's key (and body, if given) put in."""
    sample = json.loads((EVENTS / name).read_text())
    headers, multi = sample.get("headers") or {}, sample.get("multiValueHeaders") or {}
    for header in [h for h in headers if h.lower() == "authorization"]:
        headers[header] = f"Bearer {key}"
    for header in [h for h in multi if h.lower() == "authorization"]:
        multi[header] = [f"Bearer {key}"]
    if body is not None:
        sample["body"] = json.dumps(body)
    return sample
