"""Shared fixtures: one embedded DynamoDB per test process, fake upstreams, a running gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.storage.embedded import EmbeddedProcess
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI


@pytest.fixture(scope="session")
def dynamo_url() -> Iterator[str]:
    """In a child process, as `apex serve` runs it: tests that mock AWS in-process (moto's
    `mock_aws`) reset moto's global state on exit, which must not be this store's."""
    server = EmbeddedProcess()
    url = server.start()
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


@pytest.fixture(scope="module")
def upstream_claude() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic("claude").start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    """Faults and records never leak from one test into the next."""
    for name in ("upstream_a", "upstream_b", "upstream_claude"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
