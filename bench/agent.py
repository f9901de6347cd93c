"""Agent-sized requests: what the gateway adds to a coding agent's turn, on every path.

    python bench/agent.py [--duration 8] [--rounds 3]

A coding agent's request is ~120 KB: a 30 KB system prompt, 30 tools with JSON schemas, 40 turns of
tool calls and their results. It goes, one connection at a time (wrk, p50), through each path —
chat, messages and Responses passed through, chat → Anthropic, messages → OpenAI, Responses → chat
(store: false) — beside the thin aiohttp proxy (bench/thin.py) on the pass-through paths and the fake
upstream itself, which answers at once. Each target runs on one core, the load and the upstream on
the other. Added latency is a target's p50 minus the upstream's p50 for the request it forwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from run import KEY, LOAD_CPU, ROOT, Target, ensure_wrk, free_port, pinned, wrk  # noqa: E402

from providers.anthropic.translate import request_to_anthropic  # noqa: E402


def words(n: int, seed: int) -> str:
    vocabulary = ["the", "build", "must", "keep", "every", "test", "green", "while", "the", "module", "moves;",
                  "read", "the", "file,", "change", "the", "function,", "run", "the", "suite,", "and", "report",
                  "what", "failed", "with", "the", "exact", "line", "and", "error", "message"]
    return " ".join(vocabulary[(i * 7 + seed) % len(vocabulary)] for i in range(n))


def tools() -> list[dict[str, Any]]:
    return [{"type": "function", "function": {
        "name": f"tool_{i}", "description": words(40, i),
        "parameters": {"type": "object", "required": ["path"], "properties": {
            "path": {"type": "string", "description": words(12, i + 1)},
            "pattern": {"type": "string", "description": words(10, i + 2)},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
            "options": {"type": "object", "properties": {"recursive": {"type": "boolean"},
                                                         "context": {"type": "integer"}}}}}}}
        for i in range(30)]


def chat_request() -> dict[str, Any]:
    """The agent's turn in OpenAI's chat format."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": words(5000, 0)},
                                      {"role": "user", "content": words(200, 3)}]
    for turn in range(40):
        call_id = f"call_{turn:03d}"
        messages.append({"role": "assistant", "content": words(30, turn), "tool_calls": [{
            "id": call_id, "type": "function", "function": {
                "name": f"tool_{turn % 30}", "arguments": json.dumps({"path": f"src/module_{turn}.py",
                                                                     "pattern": words(4, turn)})}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": words(150, turn + 5)})
    return {"model": "bench", "messages": messages, "tools": tools(), "max_tokens": 1024}


def messages_request(chat: dict[str, Any]) -> dict[str, Any]:
    """The same turn in Anthropic's format (the gateway's own translation makes it)."""
    return {**request_to_anthropic(chat), "model": "bench-claude"}


def responses_request(chat: dict[str, Any]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for message in chat["messages"][1:]:
        if message["role"] == "tool":
            items.append({"type": "function_call_output", "call_id": message["tool_call_id"],
                          "output": message["content"]})
        elif message.get("tool_calls"):
            items.append({"role": "assistant", "content": message["content"]})
            items += [{"type": "function_call", "call_id": c["id"], "name": c["function"]["name"],
                       "arguments": c["function"]["arguments"]} for c in message["tool_calls"]]
        else:
            items.append({"role": message["role"], "content": message["content"]})
    return {"model": "bench", "instructions": chat["messages"][0]["content"], "input": items, "store": False,
            "tools": [{"type": "function", **t["function"]} for t in chat["tools"]], "max_output_tokens": 1024}


def apex(upstream: str) -> Target:
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "apex.toml"
    config.write_text(f'[providers.up]\nkind = "openai"\nbase_url = "{upstream}"\n\n'
                      f'[providers.claude]\nkind = "anthropic"\nbase_url = "{upstream.removesuffix("/v1")}"\n\n'
                      f'[models.bench]\ncontext_window = 400000\nroutes = [{{ provider = "up", model = "bench" }}]\n\n'
                      f'[models.bench-claude]\ncontext_window = 400000\n'
                      f'routes = [{{ provider = "claude", model = "bench" }}]\n\n'
                      f'[providers.native]\nkind = "openai"\nbase_url = "{upstream}"\nresponses = true\n\n'
                      f'[models.bench-native]\nroutes = [{{ provider = "native", model = "bench" }}]\n\n'
                      f'[[keys]]\nkey = "{KEY}"\nplan = "unlimited"\n')
    return Target("apex", [str(Path(sys.executable).parent / "apex"), "serve", "--port", str(port), "--config",
                           str(config)], f"http://127.0.0.1:{port}/v1", {"Authorization": f"Bearer {KEY}"})


def thin(upstream: str) -> Target:
    port = free_port()
    return Target("thin", [sys.executable, str(ROOT / "bench" / "thin.py"), str(port), upstream],
                  f"http://127.0.0.1:{port}/v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_wrk()
    chat = chat_request()
    anthropic = messages_request(chat)
    responses = responses_request(chat)
    sizes = {"chat": len(json.dumps(chat)), "messages": len(json.dumps(anthropic))}
    # path name: (endpoint, body, the upstream request it becomes: endpoint and body)
    paths = {
        "chat, passed through": ("/chat/completions", chat, ("/chat/completions", chat)),
        "messages, passed through": ("/messages", anthropic, ("/messages", anthropic)),
        "chat → Anthropic": ("/chat/completions", {**chat, "model": "bench-claude"}, ("/messages", anthropic)),
        "messages → OpenAI": ("/messages", {**anthropic, "model": "bench"}, ("/chat/completions", chat)),
        "Responses, passed through": ("/responses", {**responses, "model": "bench-native"},
                                      ("/responses", responses)),
        "Responses → chat": ("/responses", responses, ("/chat/completions", chat)),
    }
    up_port = free_port()
    upstream = subprocess.Popen(pinned(LOAD_CPU, [sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]),
                                stdout=subprocess.PIPE, start_new_session=True)
    assert upstream.stdout is not None
    upstream.stdout.readline()
    upstream_url = f"http://127.0.0.1:{up_port}/v1"
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for _ in range(args.rounds):
            direct = Target("direct", [], upstream_url)
            base = {path: wrk(direct, 1, args.duration, body, path)["p50_ms"]
                    for path, body in (("/chat/completions", chat), ("/messages", anthropic),
                                       ("/responses", responses))}
            for make in (apex, thin):
                target = make(upstream_url)
                target.start()
                try:
                    for name, (endpoint, body, (upstream_path, _)) in paths.items():
                        if target.name == "thin" and "passed through" not in name:
                            continue
                        p50 = wrk(target, 1, args.duration, body, endpoint)["p50_ms"]
                        results.setdefault(name, {}).setdefault(target.name, []).append(p50 - base[upstream_path])
                finally:
                    target.stop()
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"Request: {sizes['chat'] / 1024:.0f} KB (chat), {sizes['messages'] / 1024:.0f} KB (messages); "
          f"p50 added over the upstream at 1 connection, median of {args.rounds} rounds of {args.duration} s\n")
    print("| path | apex | thin aiohttp proxy | apex / thin |")
    print("| --- | --- | --- | --- |")
    reference = statistics.median(results["chat, passed through"]["thin"])
    for name, by in results.items():
        added = statistics.median(by["apex"])
        floor = statistics.median(by["thin"]) if "thin" in by else reference
        note = "" if "thin" in by else " (vs. chat's)"
        print(f"| {name} | +{added:.2f} ms | +{floor:.2f} ms{note} | {added / floor:.1f}x |")


if __name__ == "__main__":
    main()
