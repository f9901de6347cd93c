"""Shared fixtures: one embedded DynamoDB per test process, fake upstreams, a running gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.storage.embedded import EmbeddedDynamoDB
from tests.fakes.openai import FakeOpenAI
from tests.support import ensure_tables


@pytest.fixture(scope="session")
def dynamo_url() -> Iterator[str]:
    server = EmbeddedDynamoDB()
    url = server.start()
    ensure_tables(url)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def upstream_a() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI("alpha").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def upstream_b() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI("beta").start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    """Faults and records never leak from one test into the next."""
    for name in ("upstream_a", "upstream_b"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
