"""A gateway under uvicorn on a real port, in front of two fake OpenAI-compatible upstreams and a
provider whose port nothing listens on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from openai import OpenAI

from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


MODELS = {
    "fast": {"context_window": 8192, "price": {"input": 0.1, "output": 0.2}, "quality": 2,
             "routes": [{"provider": "alpha", "model": "alpha-model"}]},
    "reliable": {"routes": [{"provider": "alpha", "model": "a-model"}, {"provider": "beta", "model": "b-model"}]},
    "with-dead": {"routes": [{"provider": "dead", "model": "x"}, {"provider": "beta", "model": "b-model"}]},
    "all-dead": {"routes": [{"provider": "dead", "model": "x"}, {"provider": "dead2", "model": "y"}]},
    "tiny": {"context_window": 64, "routes": [{"provider": "alpha", "model": "tiny"}]},
    "embedder": {"type": "embedding", "price": {"input": 0.02}, "routes": [{"provider": "beta", "model": "e5"}]},
    "old": {"deprecated": True, "replacement": "fast"},
}


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_b: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    cfg = config(
        {"alpha": upstream_a.base_url, "beta": upstream_b.base_url, "dead": closed_port_url(),
         "dead2": closed_port_url()},
        MODELS,
        gateway={"key_cache_ttl_s": 0},
    )
    with run_gateway(cfg, dynamo_url) as running:
        yield running


@pytest.fixture
def client(gateway: Running) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=10) as sdk:
        yield sdk
