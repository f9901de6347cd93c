"""Shared fixtures: one embedded DynamoDB per test process, fake upstreams, a running gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.storage.embedded import EmbeddedProcess
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
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
    with FakeOpenAI("alpha") as fake:
        yield fake


@pytest.fixture(scope="module")
def upstream_b() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("beta") as fake:
        yield fake


@pytest.fixture(scope="module")
def upstream_claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic("claude") as fake:
        yield fake


@pytest.fixture(scope="module")
def azure() -> Iterator[FakeAzure]:
    with FakeAzure("azure") as fake:
        yield fake


# Every fixture that is a fake upstream, here or in a test module.
FAKES = ("upstream_a", "upstream_b", "upstream_claude", "azure", "bedrock", "evil", "flaky", "upstream")


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    """Faults and records never leak from one test into the next."""
    for name in FAKES:
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
