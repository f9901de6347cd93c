"""Claude Code, the real program (`@anthropic-ai/claude-code` from npm, `make clients`), pointed at
the gateway as its users point it: `ANTHROPIC_BASE_URL` and a gateway key, its default model or a
non-Claude name routed to an OpenAI-format upstream. Each test checks what Claude Code printed and
what reached the fake upstream; no connection may leave 127.0.0.1 (a recording proxy stands in the
way of any that tries)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic import THINKING, FakeAnthropic
from tests.fakes.offhost import OffHostGuard
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = ROOT / ".clients" / "node_modules" / ".bin" / "claude"
DEFAULT_MODEL = "claude-opus-4-8"       # Claude Code's own default
SYSTEM_TURNS_BETA = "mid-conversation-system-2026-04-07"


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: `make clients` installs it"
    cfg = config(
        {"claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 10}, "gpt": upstream_a.base_url},
        {DEFAULT_MODEL: {"context_window": 1_000_000, "routes": [{"provider": "claude", "model": DEFAULT_MODEL}]},
         "claude-haiku-4-5": {"context_window": 200_000,
                              "routes": [{"provider": "claude", "model": "claude-haiku-4-5"}]},
         "gpt-fake": {"context_window": 400_000, "routes": [{"provider": "gpt", "model": "gpt-5"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running


def claude(gateway: Running, guard: OffHostGuard, tmp_path: Path, *args: str, model: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    """`claude -p …` as a user runs it against the gateway (its own config dir; its telemetry, error
    reports and update checks off, as Claude Code documents for a network it may not leave)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
           "ANTHROPIC_BASE_URL": gateway.url, "ANTHROPIC_API_KEY": TEST_KEY,
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "HTTPS_PROXY": guard.url, "HTTP_PROXY": guard.url, "NO_PROXY": "127.0.0.1,localhost"}
    if model is not None:
        env |= {"ANTHROPIC_MODEL": model, "ANTHROPIC_SMALL_FAST_MODEL": model, "ANTHROPIC_DEFAULT_HAIKU_MODEL": model}
    return subprocess.run([str(CLAUDE), "-p", *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)


def result_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["type"] == "result" and result["is_error"] is False, result
    return dict(result)


def system_turns(messages: list[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.get("role") == "system"]


def test_the_default_model_passes_through_with_its_system_turns_and_betas(gateway, guard, tmp_path,
                                                                          upstream_claude) -> None:
    result = result_of(claude(gateway, guard, tmp_path, "say hi", "--output-format", "json"))
    assert result["num_turns"] >= 1
    first = upstream_claude.received[0]
    assert first.path == "/v1/messages" and first.query.get("beta") == "true"
    assert first.body["model"] == DEFAULT_MODEL
    assert SYSTEM_TURNS_BETA in first.headers["anthropic-beta"]              # forwarded unchanged
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert system_turns(first.body["messages"]), "Claude Code's system turn went upstream as it sent it"
    marked = [b for b in [*first.body["system"], *(b for m in first.body["messages"] if isinstance(m["content"], list)
                                                   for b in m["content"])] if "cache_control" in b]
    assert marked, "its cache_control marks reach Anthropic"
    assert TEST_KEY not in json.dumps(first.headers)                        # the client's key stays here


def test_a_non_claude_model_is_translated_with_each_system_turn_in_its_place(gateway, guard, tmp_path,
                                                                             upstream_a) -> None:
    result = result_of(claude(gateway, guard, tmp_path, "say hi", "--output-format", "json", model="gpt-fake"))
    assert result["num_turns"] >= 1
    sent = upstream_a.received[0].body
    assert sent["model"] == "gpt-5" and sent["stream"] is True
    messages = sent["messages"]
    assert messages[0]["role"] == "system"                                   # Anthropic's top-level system
    assert [i for i in system_turns(messages) if i > 0], "the mid-conversation system turn stays in place"
    assert any(m["role"] == "user" for m in messages[:system_turns(messages)[-1]])
    assert {t["function"]["name"] for t in sent["tools"]} >= {"Bash", "Read"}


@pytest.mark.parametrize("model", [None, "gpt-fake"], ids=["pass-through", "translated"])
def test_stream_json_output(gateway, guard, tmp_path, model) -> None:
    done = claude(gateway, guard, tmp_path, "say hi", "--output-format", "stream-json", "--verbose", model=model)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines[0]["type"] == "system" and lines[-1]["type"] == "result" and lines[-1]["is_error"] is False
    assert any(line["type"] == "assistant" for line in lines)


@pytest.mark.parametrize("model", [None, "gpt-fake"], ids=["pass-through", "translated"])
def test_context_counts_tokens_through_the_gateway(gateway, guard, tmp_path, upstream_claude, model) -> None:
    result = result_of(claude(gateway, guard, tmp_path, "/context", "--output-format", "json", model=model))
    assert "token" in result["result"].lower()
    counted = [r for r in upstream_claude.received if r.path == "/v1/messages/count_tokens"]
    if model is None:
        assert counted, "count_tokens reached the Anthropic upstream"
    else:
        assert counted == []                                                 # counted by the gateway (cl100k)


@pytest.mark.parametrize("model", [None, "gpt-fake"], ids=["pass-through", "translated"])
def test_a_bash_tool_round_trip(gateway, guard, tmp_path, upstream_claude, upstream_a, model) -> None:
    command = {"command": "echo tool-ran-$((6 * 7))", "description": "Print a marker"}
    upstream = upstream_a if model else upstream_claude
    upstream.call_tool("Bash", command)
    done = claude(gateway, guard, tmp_path, "run the marker command", "--output-format", "stream-json", "--verbose",
                  "--allowedTools", "Bash", model=model)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines[-1]["is_error"] is False and "tool-ran-42" in lines[-1]["result"]   # the shell really ran it
    answered = upstream.received[-1].body["messages"]
    if model:                                                         # the tool's output went back upstream
        assert answered[-1]["role"] == "tool" and "tool-ran-42" in str(answered[-1]["content"])
    else:
        results = [b for b in answered[-1]["content"] if b.get("type") == "tool_result"]
        assert results and "tool-ran-42" in json.dumps(results[0]["content"])


def test_thinking_and_its_signature_pass_through_byte_for_byte(gateway, guard, tmp_path, upstream_claude) -> None:
    upstream_claude.call_tool("Bash", {"command": "echo thought", "description": "Print"})
    done = claude(gateway, guard, tmp_path, "think, then run it", "--output-format", "stream-json", "--verbose",
                  "--allowedTools", "Bash")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shown = [block for line in done.stdout.splitlines() if line.strip() and json.loads(line)["type"] == "assistant"
             for block in json.loads(line)["message"]["content"] if block["type"] == "thinking"]
    assert shown and shown[0]["signature"] == THINKING["signature"]
    second = upstream_claude.received[-1].body["messages"]         # the turn after the tool ran
    returned = [b for m in second if m["role"] == "assistant" and isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "thinking"]
    assert returned == [THINKING]                                  # as the upstream wrote it, signature and all
