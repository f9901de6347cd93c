"""What every real-client test shares: the guard that no client leaves 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.offhost import OffHostGuard


@pytest.fixture
def guard() -> Iterator[OffHostGuard]:
    """A proxy (HTTP(S)_PROXY) that lets nothing through: the test fails if the client tried."""
    proxy = OffHostGuard()
    yield proxy
    proxy.close()
    assert proxy.attempts == [], f"the client tried to leave 127.0.0.1: {proxy.attempts}"

