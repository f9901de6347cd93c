"""The Node clients people point at a gateway — the Vercel AI SDK with its OpenAI and Anthropic
providers, the official `openai` and `@anthropic-ai/sdk` — installed from npm (`make clients`) and
run by tests/clients/node/scenarios.mjs against the gateway, each on a route that passes through
(same format upstream) and one that translates, checking what the client got and what the fake
upstream received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import clients_table
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.offhost import OffHostGuard
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".clients"
OPENAI_MODEL, ANTHROPIC_MODEL = "gpt-x", "claude-x"


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    assert (CLIENTS / ".installed").exists(), f"{CLIENTS} is missing the Node clients: `make clients` installs them"
    cfg = config(
        {"claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 10}, "gpt": upstream_a.base_url},
        {OPENAI_MODEL: {"routes": [{"provider": "gpt", "model": "gpt-4o"}]},
         ANTHROPIC_MODEL: {"routes": [{"provider": "claude", "model": "claude-sonnet"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


@pytest.fixture(scope="module")
def script() -> Path:
    """The scenarios, where Node finds the installed packages (ESM resolves from the script's folder)."""
    return Path(shutil.copy(ROOT / "tests" / "clients" / "node" / "scenarios.mjs", CLIENTS / "scenarios.mjs"))


def run(script: Path, gateway: Running, scenario: str, model: str) -> dict[str, Any]:
    guard = OffHostGuard()
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(CLIENTS), "APEX_URL": gateway.url, "APEX_KEY": TEST_KEY,
               "APEX_MODEL": model, "HTTPS_PROXY": guard.url, "HTTP_PROXY": guard.url,
               "NO_PROXY": "127.0.0.1,localhost"}
        done = subprocess.run(["node", str(script), scenario], env=env, capture_output=True, text=True, timeout=60)
    finally:
        guard.close()
    assert guard.attempts == [], guard.attempts
    assert done.stdout.strip(), done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"], (scenario, model, result, done.stderr[-1000:])
    return dict(result)


# (scenario, the format it speaks): each runs on the route that passes through and the one that translates.
SCENARIOS = [("ai-openai-text", "openai"), ("ai-openai-stream", "openai"), ("ai-openai-object", "openai"),
             ("ai-openai-responses-text", "openai"), ("ai-openai-responses-stream", "openai"),
             ("ai-openai-responses-object", "openai"),
             ("ai-anthropic-text", "anthropic"), ("ai-anthropic-stream", "anthropic"),
             ("ai-anthropic-object", "anthropic"), ("anthropic-sdk-stream", "anthropic"),
             ("openai-sdk-stream", "openai")]


@pytest.mark.parametrize("translated", [False, True], ids=["pass-through", "translated"])
@pytest.mark.parametrize(("scenario", "speaks"), SCENARIOS, ids=[s for s, _ in SCENARIOS])
def test_a_node_client_on_each_route(script, gateway, upstream_a, upstream_claude, scenario: str, speaks: str,
                                     translated: bool) -> None:
    same = OPENAI_MODEL if speaks == "openai" else ANTHROPIC_MODEL
    other = ANTHROPIC_MODEL if speaks == "openai" else OPENAI_MODEL
    model = other if translated else same
    upstream = upstream_claude if model == ANTHROPIC_MODEL else upstream_a
    result = run(script, gateway, scenario, model)
    if scenario.endswith("-object"):
        assert set(result["object"]) == {"city", "unit"}
    else:
        assert result["text"].startswith(("Hello from", "The tool said")), result
    assert upstream.received, "the request reached the route's upstream"
    sent = upstream.last.body
    assert sent["model"] == ("claude-sonnet" if model == ANTHROPIC_MODEL else "gpt-4o")
    if result.get("usage"):
        counted = result["usage"].get("output_tokens") or result["usage"].get("completion_tokens")
        assert counted and counted > 0                         # usage reaches the client, either way


def test_the_clients_table_names_every_scenario() -> None:
    table = clients_table()
    assert all(f"`{scenario}" in table for scenario, _ in SCENARIOS)
