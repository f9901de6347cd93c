"""Shared fixtures: one embedded DynamoDB per test process, fake upstreams, a running gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.storage.embedded import EmbeddedProcess
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import module_fake


@pytest.fixture(scope="session")
def dynamo_url() -> Iterator[str]:
    """In a child process, as `apex serve` runs it: tests that mock AWS in-process (moto's
    `mock_aws`) reset moto's global state on exit, which must not be this store's."""
    server = EmbeddedProcess()
    url = server.start()
    yield url
    server.stop()


upstream_a = module_fake("upstream_a", lambda: FakeOpenAI("alpha"))
upstream_b = module_fake("upstream_b", lambda: FakeOpenAI("beta"))
upstream_claude = module_fake("upstream_claude", lambda: FakeAnthropic("claude"))
azure = module_fake("azure", lambda: FakeAzure("azure"))


# Every fixture that is a fake upstream, here or in a test module.
FAKES = ("upstream_a", "upstream_b", "upstream_claude", "azure", "bedrock", "evil", "flaky", "upstream", "fake")


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    """Faults and records never leak from one test into the next."""
    for name in FAKES:
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
