"""Codex CLI, the real program (`@openai/codex` from npm, `make clients`), pointed at the gateway as
its users point it: a custom provider (`wire_api = "responses"`) or its built-in OpenAI provider with
`openai_base_url`, on its default model and settings, routed to an OpenAI-format chat upstream or an
Anthropic one. Each test checks what Codex printed and what reached the fake upstream; no connection
may leave 127.0.0.1 (a recording proxy stands in the way of any that tries)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.offhost import OffHostGuard
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ROOT = Path(__file__).resolve().parents[2]
CODEX = ROOT / ".clients" / "node_modules" / ".bin" / "codex"
DEFAULT_MODEL = "gpt-6.2-sol"          # Codex's own default
CLAUDE = "claude-sonnet-4-5"
NATIVE = "gpt-5.5"                      # routed to a provider that serves the Responses API itself
PLAIN = "gpt-5.1-codex"                 # a name Codex has no metadata for: plain function tools (exec_command)
# What a user on a network Codex may not leave sets: no plugin sync (GitHub, chatgpt.com), no analytics.
CLOSED_NETWORK = """
[features]
plugins = false
[analytics]
enabled = false
"""
CUSTOM_PROVIDER = """model_provider = "apex"
[model_providers.apex]
name = "Apex"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "APEX_KEY"
"""
BUILT_IN_PROVIDER = 'openai_base_url = "{url}/v1"\n'


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    assert CODEX.exists(), f"{CODEX} is missing: `make clients` installs it"
    cfg = config(
        {"claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 10},
         "gpt": {"kind": "openai", "base_url": upstream_a.base_url, "timeout_s": 10},
         "oai": {"kind": "openai", "base_url": upstream_a.base_url, "responses": True, "timeout_s": 10}},
        {DEFAULT_MODEL: {"context_window": 400_000, "reasoning": True,
                         "routes": [{"provider": "gpt", "model": "gpt-5"}]},
         CLAUDE: {"context_window": 200_000, "routes": [{"provider": "claude", "model": CLAUDE}]},
         NATIVE: {"routes": [{"provider": "oai", "model": "gpt-5.5"}]},
         PLAIN: {"routes": [{"provider": "gpt", "model": "gpt-5.1"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


def codex(gateway: Running, guard: OffHostGuard, tmp_path: Path, prompt: str, *options: str,
          provider: str = CUSTOM_PROVIDER) -> subprocess.CompletedProcess[str]:
    """`codex exec …` as a user runs it against the gateway: its own CODEX_HOME with the provider
    configured, the gateway key in the environment variable the provider names."""
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(provider.format(url=gateway.url) + CLOSED_NETWORK)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CODEX_HOME": str(home), "APEX_KEY": TEST_KEY,
           "CODEX_API_KEY": TEST_KEY, "HTTPS_PROXY": guard.url, "HTTP_PROXY": guard.url,
           "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run([str(CODEX), "exec", "--skip-git-repo-check", *options, prompt], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_default_settings_answer_on_a_chat_route(gateway, guard, tmp_path, upstream_a) -> None:
    upstream_a.answer_plainly()
    done = codex(gateway, guard, tmp_path, "say hi")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Hello from alpha." in done.stdout
    sent = upstream_a.last.body
    names = [t["function"]["name"] for t in sent.get("tools") or ()]
    assert "functions__exec" in names                 # its code-mode tool, namespaced and custom
    assert sent["reasoning_effort"]                    # its reasoning effort, to a reasoning model


def test_a_custom_tool_round_trip_through_codex(gateway, guard, tmp_path, upstream_a) -> None:
    """Codex's default model works through one custom tool, `exec` (JavaScript it runs itself), in the
    `functions` namespace: called by the model, run by Codex, its output back to the model."""
    upstream_a.call_tool("functions__exec", {"input": "text('hi from exec')"})
    done = codex(gateway, guard, tmp_path, "run it")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The tool said:" in done.stdout and "hi from exec" in done.stdout
    assert len(upstream_a.received) == 2
    answered = upstream_a.last.body["messages"][-1]
    assert answered["role"] == "tool" and "hi from exec" in answered["content"]


def test_a_shell_round_trip_to_a_chat_upstream(gateway, guard, tmp_path, upstream_a) -> None:
    upstream_a.call_tool("exec_command", {"cmd": "echo hi-from-chat"}, once=True)
    done = codex(gateway, guard, tmp_path, "run echo", "-m", PLAIN, "--dangerously-bypass-approvals-and-sandbox")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The tool said:" in done.stdout and "hi-from-chat" in done.stdout
    answered = upstream_a.last.body["messages"][-1]
    assert answered["role"] == "tool" and "hi-from-chat" in answered["content"]


def test_a_shell_round_trip_to_an_anthropic_upstream(gateway, guard, tmp_path, upstream_claude) -> None:
    upstream_claude.call_tool("exec_command", {"cmd": "echo hi-from-shell"})
    done = codex(gateway, guard, tmp_path, "run echo", "-m", CLAUDE, "--dangerously-bypass-approvals-and-sandbox")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The tool said:" in done.stdout and "hi-from-shell" in done.stdout
    result = upstream_claude.last.body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and "hi-from-shell" in str(result["content"])


def test_a_route_to_a_provider_serving_the_responses_api_gets_codex_requests_as_sent(gateway, guard, tmp_path,
                                                                                   upstream_a) -> None:
    upstream_a.answer_plainly()
    done = codex(gateway, guard, tmp_path, "say hi", "-m", NATIVE, provider=BUILT_IN_PROVIDER)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Hello from alpha." in done.stdout
    sent = upstream_a.last
    assert sent.path == "/v1/responses" and sent.body["model"] == "gpt-5.5"
    kinds = {tool["type"] for tool in sent.body["tools"]}
    assert "custom" in kinds and "web_search" in kinds            # apply_patch and the hosted tools, intact
    assert sent.body["include"] == ["reasoning.encrypted_content"] and sent.body["store"] is False


def test_a_shell_round_trip_on_a_route_serving_the_responses_api(gateway, guard, tmp_path, upstream_a) -> None:
    upstream_a.call_tool("exec_command", {"cmd": "echo hi-from-native"}, once=True)
    done = codex(gateway, guard, tmp_path, "run echo", "-m", NATIVE, "--dangerously-bypass-approvals-and-sandbox",
                 provider=BUILT_IN_PROVIDER)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "The tool said:" in done.stdout and "hi-from-native" in done.stdout
    output = upstream_a.last.body["input"][-1]
    assert output["type"] == "function_call_output" and "hi-from-native" in str(output["output"])


def test_the_built_in_provider_falls_back_from_websockets_at_once(gateway, guard, tmp_path, upstream_a) -> None:
    upstream_a.answer_plainly()
    done = codex(gateway, guard, tmp_path, "say hi", provider=BUILT_IN_PROVIDER)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Hello from alpha." in done.stdout
    assert "Reconnecting" not in done.stderr            # one 426, no retries (a 500 cost seven, 6.4 s)


def test_remote_compaction_on_a_chat_route(gateway, guard, tmp_path, upstream_a) -> None:
    """Past its token limit in the middle of a turn (after a tool call), Codex on its built-in provider
    compacts remotely: a request ending in a `compaction_trigger`, answered with a summary. (With a
    model it has no metadata for, such as a Claude name, Codex does not compact remotely; the
    translation's compaction to an Anthropic upstream is tested in tests/e2e/test_responses_tools.py.)"""
    upstream_a.call_tool("functions__exec", {"input": "text('hi from exec')"}, once=True)
    done = codex(gateway, guard, tmp_path, "run it", "-c", "model_auto_compact_token_limit=2000",
                 provider=BUILT_IN_PROVIDER)
    assert done.returncode == 0, done.stderr[-3000:]
    asked = [str(r.body["messages"]) for r in upstream_a.received]
    assert "Summarize the conversation so far" in asked[1]
    assert "A summary of the conversation so far" in asked[2]                   # carried on after it
    assert "context compacted" in done.stderr and "Hello from alpha." in done.stdout
