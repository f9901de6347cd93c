"""What agents (Codex above all) send the Responses API, on chat routes to OpenAI-format and Anthropic
upstreams: custom and namespaced tools, hosted tools, tools in `additional_tools` items, reasoning
items and effort, and compaction — checked on what the client gets and what reached the upstream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.support import Running, run_gateway, with_both_fakes

GRAMMAR = 'start: "*** Begin Patch" /[\\s\\S]*/'
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
TOOLS = [
    {"type": "function", "name": "exec_command", "description": "Run a command",
     "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}},
    {"type": "custom", "name": "apply_patch", "description": "Edit files",
     "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}},
    {"type": "namespace", "name": "collab", "description": "Agents", "tools": [
        {"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "script"}]},
    {"type": "web_search"},
    {"type": "tool_search", "execution": "client"},
]
CHAT_NAMES = ["exec_command", "apply_patch", "collab__spawn_agent", "collab__script"]
MODELS = ["gpt-x", "claude-x"]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    cfg = with_both_fakes(upstream_a.base_url, upstream_claude.url, models={
        "gpt-reasoning": {"reasoning": True, "routes": [{"provider": "gpt", "model": "o4-mini"}]},
        "claude-thinking": {"reasoning": True, "routes": [{"provider": "claude", "model": "claude-sonnet"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running



def upstream_of(request: pytest.FixtureRequest, model: str) -> FakeOpenAI | FakeAnthropic:
    return request.getfixturevalue("upstream_claude" if model.startswith("claude") else "upstream_a")


def offered(upstream: FakeOpenAI | FakeAnthropic) -> list[str]:
    tools = upstream.last.body.get("tools") or []
    return [t.get("name") or t["function"]["name"] for t in tools]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_custom_tool_is_called_back_as_a_custom_tool_call(client, request, model: str, stream: bool) -> None:
    upstream = upstream_of(request, model)
    upstream.call_tool("apply_patch", {"input": PATCH})
    raw = client.responses.with_raw_response.create(model=model, input="Add hello.txt", tools=TOOLS,
                                                    stream=stream)
    if stream:
        events = list(raw.parse())
        response = events[-1].response
        kinds = [e.type for e in events]
        assert "response.custom_tool_call_input.done" in kinds and kinds[-1] == "response.completed"
    else:
        response = raw.parse()
    call = response.output[0]
    assert (call.type, call.name, call.input) == ("custom_tool_call", "apply_patch", PATCH)
    assert raw.headers["x-apex-dropped-tools"] == "web_search, tool_search"       # hosted: a chat model has none
    assert offered(upstream) == CHAT_NAMES
    sent = upstream.last.body["tools"][1]
    schema = sent.get("input_schema") or sent["function"]["parameters"]
    description = sent.get("description") or sent["function"]["description"]
    assert schema["required"] == ["input"] and GRAMMAR in description


@pytest.mark.parametrize("model", MODELS)
def test_a_namespaced_tool_is_called_with_its_namespace(client, request, model: str) -> None:
    upstream_of(request, model).call_tool("collab__spawn_agent", {})
    call = client.responses.create(model=model, input="Spawn one", tools=TOOLS).output[0]
    assert (call.type, call.name, call.namespace) == ("function_call", "spawn_agent", "collab")


@pytest.mark.parametrize("model", MODELS)
def test_custom_and_namespaced_calls_go_back_upstream_as_chat_tool_calls(client, request, model: str) -> None:
    upstream = upstream_of(request, model)
    response = client.responses.create(model=model, tools=TOOLS, store=False, input=[
        {"role": "user", "content": "Patch it"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"type": "custom_tool_call", "call_id": "call_1", "name": "apply_patch", "input": PATCH},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done!"}])
    assert response.output_text == "The tool said: Done!"
    sent = upstream.last.body
    if model == "gpt-x":
        assert sent["messages"][1:] == [
            {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "apply_patch", "arguments": json.dumps({"input": PATCH}, separators=(",", ":"))}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Done!"}]
    else:
        assert sent["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "apply_patch",
                                                   "input": {"input": PATCH}}]
    assert "opaque" not in str(sent)                                   # a reasoning item stays here


def test_tools_in_an_additional_tools_item_are_offered(client, upstream_a) -> None:
    """Codex's default model sends its tools as an `additional_tools` input item, not in `tools`."""
    raw = client.responses.with_raw_response.create(model="gpt-x", input=[
        {"type": "additional_tools", "role": "developer", "tools": [
            {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]},
            {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]}]},
        {"role": "user", "content": "hi"}])
    assert offered(upstream_a) == ["functions__exec", "clock__sleep"]
    assert "x-apex-dropped-items" not in raw.headers
    assert [m["role"] for m in upstream_a.last.body["messages"]] == ["user"]


def test_items_with_no_chat_counterpart_are_kept_and_named(client, upstream_a) -> None:
    raw = client.responses.with_raw_response.create(model="gpt-x", input=[
        {"role": "user", "content": "look it up"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"role": "user", "content": "and?"}])
    assert raw.headers["x-apex-dropped-items"] == "web_search_call"
    assert [m["content"] for m in upstream_a.last.body["messages"]] == ["look it up", "and?"]
    stored = client.responses.input_items.list(raw.parse().id, order="asc")
    assert [item.type for item in stored.data] == ["message", "web_search_call", "message"]


@pytest.mark.parametrize(("model", "sent_as"), [("gpt-reasoning", "reasoning_effort"), ("claude-thinking", "thinking"),
                                                ("gpt-x", None)])
def test_reasoning_effort_reaches_the_upstreams_setting_and_is_echoed(client, request, model: str,
                                                                     sent_as: str | None) -> None:
    response = client.responses.create(model=model, input="think", reasoning={"effort": "medium"},
                                       text={"verbosity": "low"}, max_output_tokens=20000)
    assert response.reasoning.effort == "medium"
    sent = upstream_of(request, model).last.body
    if sent_as == "reasoning_effort":
        assert (sent["reasoning_effort"], sent["verbosity"]) == ("medium", "low")
    elif sent_as == "thinking":
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    else:                                                    # a model that does not reason is not sent it
        assert "reasoning_effort" not in sent and "verbosity" not in sent


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_compaction_trigger_is_answered_with_a_summary_that_comes_back(client, request, model: str,
                                                                         stream: bool) -> None:
    upstream = upstream_of(request, model)
    history = [{"role": "user", "content": "Write hello.txt"}, {"role": "assistant", "content": "Written."}]
    raw = client.responses.with_raw_response.create(model=model, store=False, tools=TOOLS, stream=stream,
                                                    input=[*history, {"type": "compaction_trigger"}])
    response = list(raw.parse())[-1].response if stream else raw.parse()
    assert [item.type for item in response.output] == ["compaction"]
    sent = upstream.last.body
    assert "Summarize the conversation so far" in str(sent["messages"][-1]["content"])
    assert "tools" not in sent                                   # a summary, not a turn
    compaction = response.output[0].model_dump()
    assert compaction["encrypted_content"].startswith("apex-summary-v1:")
    written = base64.urlsafe_b64decode(compaction["encrypted_content"].split(":", 1)[1]).decode()
    assert written.startswith("Hello from")                     # the fake's answer is the summary
    client.responses.create(model=model, store=False, input=[compaction, {"role": "user", "content": "go on"}])
    carried = upstream.last.body["messages"]
    assert written in str(carried[0]["content"]) and "go on" in str(carried[-1]["content"])
