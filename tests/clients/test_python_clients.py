"""The Python clients people point at a gateway — the official `openai` and `anthropic` SDKs,
pydantic-ai, langchain-openai and langchain-anthropic, instructor, the `llm` CLI, litellm used as a
client and openai-agents — installed from PyPI into environments of their own (`make clients`) and run by
tests/clients/python/scenarios.py against the gateway: each scenario on a route that passes through
(same format upstream) and one that translates, checking what the client got and what the fake
upstream received. The script refuses and reports any connection off 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import clients_table
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".clients"
SCRIPT = ROOT / "tests" / "clients" / "python" / "scenarios.py"
# Gateway model names: an OpenAI one and a Claude one on their own formats' upstreams, and a Claude
# name routed to the OpenAI-format upstream (clients that know Claude models by name get one).
GPT, CLAUDE, CLAUDE_ON_GPT = "gpt-4.1", "claude-sonnet-4-5", "claude-opus-4-8"
UPSTREAM_MODEL = {GPT: "gpt-4o", CLAUDE: "claude-sonnet", CLAUDE_ON_GPT: "gpt-4o"}


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    assert all((CLIENTS / env / ".installed").exists() for env in ("python", "pydantic-ai")), \
        f"{CLIENTS} is missing the Python clients: `make clients` installs them"
    cfg = config(
        {"claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 10}, "gpt": upstream_a.base_url},
        {name: {"routes": [{"provider": "claude" if upstream.startswith("claude") else "gpt", "model": upstream}]}
         for name, upstream in UPSTREAM_MODEL.items()})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


def run(gateway: Running, scenario: str, model: str, home: Path) -> dict[str, Any]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "APEX_URL": gateway.url, "APEX_KEY": TEST_KEY,
           "APEX_MODEL": model}
    python = CLIENTS / ("pydantic-ai" if scenario.startswith("pydantic-ai") else "python") / "bin" / "python"
    done = subprocess.run([str(python), str(SCRIPT), scenario], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["off_host"] == [], f"{scenario} tried to leave 127.0.0.1: {result['off_host']}"
    if not result["ok"]:
        pytest.fail(f"{scenario} on {model}: {result['error']}\n{result['trace']}", pytrace=False)
    return dict(result)


# (scenario, the format it speaks, what it exercises); each runs on a pass-through and a translated route.
SCENARIOS = [
    ("openai-parse", "openai", "structured"), ("openai-stream", "openai", "stream"),
    ("anthropic-output-config", "anthropic", "structured"), ("anthropic-stream-tools", "anthropic", "tools"),
    ("pydantic-ai-openai-tool", "openai", "tools"), ("pydantic-ai-openai-native", "openai", "structured"),
    ("pydantic-ai-anthropic-tool", "anthropic", "tools"),
    ("pydantic-ai-anthropic-native", "anthropic", "structured"),
    ("langchain-openai-structured", "openai", "structured"), ("langchain-openai-stream", "openai", "stream"),
    ("langchain-anthropic-structured", "anthropic", "structured"),
    ("langchain-anthropic-stream", "anthropic", "stream"),
    ("instructor-json-schema", "openai", "structured"), ("instructor-anthropic-tools", "anthropic", "forced-tool"),
    ("llm-schema", "openai", "structured"),
    ("litellm-openai-structured", "openai", "structured"), ("litellm-openai-stream", "openai", "stream"),
    ("litellm-anthropic-structured", "anthropic", "structured"),
    ("litellm-anthropic-stream", "anthropic", "stream"),
    ("agents-output-type", "responses", "structured"), ("agents-tools", "responses", "tools"),
    ("agents-streamed", "responses", "stream"), ("agents-previous-response", "responses", "continued"),
    ("agents-session", "responses", "continued"), ("pydantic-ai-responses-tool", "responses", "tools"),
    ("langchain-responses-tool", "responses", "tools"),
]


def asked_structured_output(body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
    """The JSON schema the upstream was asked to answer in, in its own format's field."""
    if anthropic:       # the structured-outputs beta's `output_format` passes through as sent
        output_format = (body.get("output_config") or {}).get("format") or body["output_format"]
        assert output_format["type"] == "json_schema"
        return dict(output_format["schema"])
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    return dict(response_format["json_schema"]["schema"])


@pytest.mark.parametrize("translated", [False, True], ids=["pass-through", "translated"])
@pytest.mark.parametrize(("scenario", "speaks", "exercises"), SCENARIOS, ids=[s for s, _, _ in SCENARIOS])
def test_a_python_client_on_each_route(gateway, upstream_a, upstream_claude, tmp_path, scenario: str, speaks: str,
                                       exercises: str, translated: bool) -> None:
    model = {("anthropic", False): CLAUDE, ("anthropic", True): CLAUDE_ON_GPT}.get(
        (speaks, translated), CLAUDE if translated else GPT)
    anthropic = UPSTREAM_MODEL[model].startswith("claude")
    upstream = upstream_claude if anthropic else upstream_a
    result = run(gateway, scenario, model, tmp_path)

    assert upstream.received, "the request reached the route's upstream"
    sent = upstream.last.body
    assert sent["model"] == UPSTREAM_MODEL[model]
    if exercises == "structured":
        assert result["object"] == {"city": "x", "unit": "x"}        # the fake's instance of the schema asked
        assert set(asked_structured_output(sent, anthropic)["properties"]) == {"city", "unit"}
    elif exercises == "forced-tool":
        assert result["object"] == {"city": "Paris", "unit": "celsius"}
        assert sent["tool_choice"]["type"] in ("tool", "function")
    elif exercises == "tools":
        assert "sunny in Paris" in result["text"], result          # the fake quotes the tool result it got
        assert len(upstream.received) == 2
    elif exercises == "continued":                                 # the second turn carried the first
        assert result["text"].startswith("Hello from"), result
        assert len(upstream.received) == 2 and result["continued"] in json.dumps(sent)
    else:
        assert result["text"].startswith("Hello from"), result
        assert sent["stream"] is True
    if result.get("usage"):
        counted = result["usage"].get("output_tokens") or result["usage"].get("completion_tokens")
        assert counted and counted > 0                             # usage reaches the client, either way


def test_the_clients_table_names_every_scenario() -> None:
    table = clients_table()
    assert all(f"`{scenario}`" in table for scenario, _, _ in SCENARIOS)
