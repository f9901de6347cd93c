"""The Responses API passed through to an upstream that serves it (`responses = true`): requests as
sent, events one by one, stored by the gateway too, so a conversation moves between a native route and
a translated one; `/v1/responses/compact` and `/v1/responses/input_tokens` on both kinds of route."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.responses import REASONING_CONTENT
from tests.support import TEST_KEY, Running, config, run_gateway

TOOLS = [{"type": "web_search"}, {"type": "custom", "name": "apply_patch"}]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    cfg = config(
        {"oai": {"kind": "openai", "base_url": upstream_a.base_url, "responses": True, "timeout_s": 5},
         "claude": {"kind": "anthropic", "base_url": upstream_claude.url, "timeout_s": 5}},
        {"gpt-native": {"routes": [{"provider": "oai", "model": "gpt-5"}]},
         "claude-x": {"routes": [{"provider": "claude", "model": "claude-sonnet"}]},
         "native-then-claude": {"routes": [{"provider": "oai", "model": "gpt-5"},
                                           {"provider": "claude", "model": "claude-sonnet"}]}})
    with run_gateway(cfg, dynamo_url) as running:
        yield running



ASKED = {"input": "hi", "tools": TOOLS, "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},
         "prompt_cache_key": "session-1", "text": {"verbosity": "low"}}


def test_a_request_passes_as_sent_and_the_answer_comes_back_whole(client, upstream_a) -> None:
    response = client.responses.create(model="gpt-native", **ASKED)
    sent = upstream_a.last
    assert sent.path == "/v1/responses"
    assert sent.body == {**ASKED, "model": "gpt-5"}               # hosted and custom tools, include: all intact
    assert TEST_KEY not in str(sent.headers)
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].encrypted_content == REASONING_CONTENT
    assert response.output_text == "Hello from alpha." and response.id.startswith("resp_fake_")
    assert client.responses.retrieve(response.id).output_text == "Hello from alpha."      # stored here too


def test_events_stream_one_by_one_as_the_upstream_sent_them(client, upstream_a) -> None:
    with client.responses.stream(model="gpt-native", input="hi") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.output_item.added", "response.output_text.delta",
                     "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                     "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert upstream_a.last.body["stream"] is True
    assert client.responses.retrieve(final.id).output_text == "Hello from alpha."       # before completed said so


def test_a_conversation_moves_between_a_native_route_and_a_translated_one(client, upstream_a, upstream_claude) -> None:
    first = client.responses.create(model="gpt-native", input="My name is Ada.", store=True,
                                    include=["reasoning.encrypted_content"])
    second = client.responses.create(model="claude-x", input="And yours?", previous_response_id=first.id)
    turns = upstream_claude.last.body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert "My name is Ada." in str(turns[0]) and REASONING_CONTENT not in str(turns)   # reasoning stays home
    third = client.responses.create(model="gpt-native", input="Bye.", previous_response_id=second.id)
    sent = upstream_a.last.body
    assert "previous_response_id" not in sent                       # expanded: the upstream never saw turn two
    texts = str(sent["input"])
    assert "My name is Ada." in texts and "Hello from claude." in texts and "Bye." in texts
    assert not any(item.get("id", "").startswith("msg_") for item in sent["input"])   # the gateway's ids stay home
    assert third.output_text == "Hello from alpha."


def test_a_failing_native_route_falls_back_to_a_translated_one(client, upstream_a, upstream_claude) -> None:
    upstream_a.fail_next(1, "503")
    response = client.responses.create(model="native-then-claude", input="hi", tools=[
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}], tool_choice="none")
    assert response.output_text == "Hello from claude."


def test_upstream_refusals_reach_the_client_as_they_are(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-native", input=[{"type": "reasoning", "id": "rs_unknown", "summary": []},
                                                           {"role": "user", "content": "hi"}])
    assert "Items are not persisted" in caught.value.message


def test_input_tokens_and_compact_on_both_kinds_of_route(gateway, upstream_a, upstream_claude) -> None:
    headers = {"authorization": f"Bearer {TEST_KEY}"}
    body = {"input": [{"role": "user", "content": "Write hello.txt"}, {"role": "assistant", "content": "Done."}]}
    native = httpx.post(f"{gateway.base_url}/responses/input_tokens", json={**body, "model": "gpt-native"},
                        headers=headers)
    assert native.status_code == 200 and upstream_a.last.path == "/v1/responses/input_tokens"
    counted = httpx.post(f"{gateway.base_url}/responses/input_tokens", json={**body, "model": "claude-x"},
                         headers=headers)
    assert counted.json()["object"] == "response.input_tokens" and counted.json()["input_tokens"] > 0
    compacted = httpx.post(f"{gateway.base_url}/responses/compact", json={**body, "model": "gpt-native"},
                           headers=headers)
    assert compacted.json()["output"][0]["encrypted_content"] == "enc-fake-compaction"
    assert upstream_a.last.path == "/v1/responses/compact" and "compaction_trigger" not in str(upstream_a.last.body)
    summarized = httpx.post(f"{gateway.base_url}/responses/compact", json={**body, "model": "claude-x"},
                            headers=headers).json()
    assert summarized["object"] == "response.compaction"
    assert [item["type"] for item in summarized["output"]] == ["compaction"]
    assert "Summarize the conversation so far" in str(upstream_claude.last.body["messages"][-1])


def test_a_native_stream_that_breaks_ends_failed_and_is_stored_failed(client, upstream_a) -> None:
    upstream_a.fail_next(1, "drop_after", after_chunks=3)
    with client.responses.stream(model="gpt-native", input="hi") as stream:
        events = list(stream)
    assert events[0].type == "response.created" and events[-1].type == "response.failed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    stored = client.responses.retrieve(events[-1].response.id)
    assert stored.status == "failed"


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_native_response_is_billed_by_the_upstreams_usage(gateway, client, stream: bool) -> None:
    recorded: list = []
    gateway.local.gateway.usage.listeners.append(recorded.append)
    try:
        if stream:
            with client.responses.stream(model="gpt-native", input="hi there") as events:
                final = [e for e in events if e.type == "response.completed"].pop().response
        else:
            final = client.responses.create(model="gpt-native", input="hi there")
        deadline = time.monotonic() + 5
        while not recorded and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        gateway.local.gateway.usage.listeners.remove(recorded.append)
    assert recorded[0].prompt_tokens == final.usage.input_tokens > 0
    assert recorded[0].completion_tokens == final.usage.output_tokens > 0
    assert recorded[0].provider == "oai" and recorded[0].mapped_model == "gpt-5"
