"""Fan-out with a bound: what one request may make of many upstream calls at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")
FAN_OUT = 4         # upstream calls one request makes at a time


async def map_bounded(call: Callable[[T], Awaitable[U]], items: Sequence[T], limit: int = FAN_OUT) -> list[U]:
    """`call` on every item, at most `limit` at a time, the answers in the items' order."""
    slots = asyncio.Semaphore(limit)

    async def one(item: T) -> U:
        async with slots:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))
