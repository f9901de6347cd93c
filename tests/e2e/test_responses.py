"""The Responses API with the official `openai` SDK, stored in DynamoDB (moto), over any chat route."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import TOOL_ARGUMENTS, FakeOpenAI
from tests.support import TEST_KEY, Running, run_gateway, with_both_fakes

OTHER_KEY = "sk-other-0123456789"
TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather now",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    cfg = with_both_fakes(
        upstream_a.base_url, upstream_claude.url,
        models={"claude-then-gpt": {"routes": [{"provider": "claude", "model": "claude-sonnet"},
                                               {"provider": "gpt", "model": "gpt-4o"}]}},
        keys=[{"key": TEST_KEY, "plan": "unlimited"}, {"key": OTHER_KEY, "plan": "unlimited"}])
    with run_gateway(cfg, dynamo_url) as running:
        yield running



@pytest.fixture
def other(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=OTHER_KEY, max_retries=0, timeout=20) as sdk:
        yield sdk


def test_create_with_every_option(client, upstream_a) -> None:
    response = client.responses.create(model="gpt-x", input="Say hi", instructions="Be brief.", temperature=0.2,
                                       top_p=0.9, max_output_tokens=50, metadata={"team": "search"}, user="u-1")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "Hello from alpha."
    message = response.output[0]
    assert (message.type, message.role, message.content[0].type) == ("message", "assistant", "output_text")
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0
    assert response.metadata == {"team": "search"} and response.instructions == "Be brief."
    sent = upstream_a.last.body
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["user"]) == (0.2, 0.9, 50, "u-1")
    assert "metadata" not in sent
    assert client.responses.retrieve(response.id).output_text == "Hello from alpha."   # stored by default


def test_input_as_message_items_with_an_image(client, upstream_a) -> None:
    client.responses.create(model="gpt-x", input=[
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                     {"type": "input_image", "image_url": "https://example.com/cat.jpg"}]}])
    sent = upstream_a.last.body["messages"]
    assert sent[0] == {"role": "developer", "content": "Answer in French."}
    assert sent[1]["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}


def test_function_tools_and_a_function_call_output_answering_them(client, upstream_a) -> None:
    first = client.responses.create(model="gpt-x", input="Weather in Paris?", tools=TOOLS)
    call = first.output[0]
    assert (call.type, call.name, call.arguments, call.status) == (
        "function_call", "get_weather", TOOL_ARGUMENTS, "completed")
    assert upstream_a.last.body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather now", "parameters": TOOLS[0]["parameters"]}}]
    second = client.responses.create(model="gpt-x", previous_response_id=first.id, tools=TOOLS, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees"}])
    assert second.output_text == "The tool said: 18 degrees"
    assert upstream_a.last.body["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.call_id, "type": "function",
             "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "18 degrees"}]


def test_a_chain_of_four_turns_sends_the_whole_conversation(client, upstream_a) -> None:
    previous = None
    for turn in range(1, 5):
        response = client.responses.create(model="gpt-x", input=f"Q{turn}", previous_response_id=previous,
                                           instructions=f"Rules of turn {turn}")
        previous = response.id
    sent = upstream_a.last.body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Rules of turn 4"),       # instructions are not carried over, as OpenAI does
        ("user", "Q1"), ("assistant", "Hello from alpha."), ("user", "Q2"), ("assistant", "Hello from alpha."),
        ("user", "Q3"), ("assistant", "Hello from alpha."), ("user", "Q4")]


def test_stream_event_sequence(client) -> None:
    with client.responses.stream(model="gpt-x", input="hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
                     "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                     "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Hello from alpha."
    assert final.output_text == "Hello from alpha." and final.status == "completed" and final.usage.output_tokens
    assert client.responses.retrieve(final.id).output_text == "Hello from alpha."


def test_stream_of_a_function_call(client) -> None:
    with client.responses.stream(model="gpt-x", input="Weather?", tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == TOOL_ARGUMENTS
    assert final.output[0].arguments == TOOL_ARGUMENTS and kinds[-1] == "response.completed"


def test_a_stream_that_breaks_ends_failed_and_is_stored_failed(client, upstream_a) -> None:
    upstream_a.fail_next(1, "drop_after", after_chunks=2)
    with client.responses.stream(model="gpt-x", input="hi") as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "provider_error"
    stored = client.responses.retrieve(failed.id)
    assert stored.status == "failed"


def test_input_items_pagination(client) -> None:
    response = client.responses.create(model="gpt-x", input=[{"role": "user", "content": f"m{i}"} for i in range(5)])
    everything = client.responses.input_items.list(response.id, order="asc")
    texts = [item.content[0].text for item in everything.data]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    newest_first = client.responses.input_items.list(response.id)
    assert [i.content[0].text for i in newest_first.data] == texts[::-1]
    page = client.responses.input_items.list(response.id, order="asc", limit=2)
    assert [i.content[0].text for i in page.data] == ["m0", "m1"] and page.has_more
    after = client.responses.input_items.list(response.id, order="asc", limit=2, after=page.data[-1].id)
    assert [i.content[0].text for i in after.data] == ["m2", "m3"]
    assert [i.content[0].text for i in client.responses.input_items.list(response.id, order="asc")] == texts


def test_delete_then_retrieve_is_404(client) -> None:
    response = client.responses.create(model="gpt-x", input="hi")
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(response.id)


def test_store_false_is_not_kept(client) -> None:
    response = client.responses.create(model="gpt-x", input="hi", store=False)
    assert response.output_text and response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-x", input="more", previous_response_id=response.id)
    assert caught.value.body["param"] == "previous_response_id"


def test_another_key_sees_nothing(client, other) -> None:
    response = client.responses.create(model="gpt-x", input="private")
    for call in (lambda: other.responses.retrieve(response.id), lambda: other.responses.input_items.list(response.id),
                 lambda: other.responses.delete(response.id),
                 lambda: other.responses.create(model="gpt-x", input="x", previous_response_id=response.id)):
        with pytest.raises(openai.NotFoundError):
            call()
    assert client.responses.retrieve(response.id).output_text == "Hello from alpha."   # untouched by the attempts


def test_a_response_over_400kb_round_trips_intact(client, upstream_a) -> None:
    big = base64.b64encode(os.urandom(600_000)).decode()      # 800 KB that does not compress
    upstream_a.reply_text = big
    response = client.responses.create(model="gpt-x", input=[{"role": "user", "content": big[:450_000]}])
    assert len(response.output_text) == len(big)
    stored = client.responses.retrieve(response.id)
    assert stored.output_text == big
    item = client.responses.input_items.list(response.id).data[0]
    assert item.content[0].text == big[:450_000]


@pytest.mark.parametrize("model", ["claude-x", "claude-then-gpt"])
def test_works_on_an_anthropic_route_and_falls_back(client, upstream_claude, model: str) -> None:
    if model == "claude-then-gpt":
        upstream_claude.fail_next(1, "503")
    response = client.responses.create(model=model, input="hi", instructions="Be brief.")
    assert response.output_text == ("Hello from claude." if model == "claude-x" else "Hello from alpha.")
    with client.responses.stream(model="claude-x", input="hi") as stream:
        assert "".join(e.delta for e in stream if e.type == "response.output_text.delta") == "Hello from claude."


def test_a_length_stop_is_incomplete(client, upstream_a) -> None:
    upstream_a.finish_reason = "length"
    response = client.responses.create(model="gpt-x", input="hi", max_output_tokens=3)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"model": "gpt-x", "input": []}, 400, "invalid_input"),
    ({"model": "gpt-x", "input": [{"type": "web_search_call"}]}, 400, "invalid_input"),
    ({"model": "gpt-x", "input": "hi", "tools": [{"type": "web_search_preview"}],
      "tool_choice": {"type": "web_search_preview"}}, 400, "unsupported_tool"),
    ({"model": "gpt-x", "input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "required"}, 400,
     "unsupported_tool"),
    ({"model": "gpt-x", "input": "hi", "conversation": "conv_1"}, 400, "unsupported_parameter"),
    ({"model": "gpt-x", "input": "hi", "metadata": {"note": "x" * 1_000_000}}, 400, "invalid_metadata"),
    ({"model": "gpt-x", "input": "hi", "metadata": {f"k{i}": "v" for i in range(17)}}, 400, "invalid_metadata"),
    ({"model": "gpt-x", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
     400, "unsupported_content"),
    ({"model": "gpt-x", "input": "hi", "previous_response_id": "resp_nope"}, 404, "not_found"),
    ({"model": "nope", "input": "hi"}, 404, "model_not_found"),
    ({"model": "gpt-x", "input": "hi", "store": "yes"}, 400, "invalid_type"),
])
def test_bad_requests(client, upstream_a, kwargs, status: int, code: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(**kwargs)
    assert caught.value.status_code == status and caught.value.body["code"] == code
    assert upstream_a.received == []


def test_bad_pagination(client) -> None:
    response = client.responses.create(model="gpt-x", input="hi")
    for kwargs, param in (({"limit": 0}, "limit"), ({"order": "sideways"}, "order"), ({"after": "msg_nope"}, "after")):
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.input_items.list(response.id, **kwargs)
        assert caught.value.body["param"] == param


@pytest.mark.parametrize("model", ["gpt-x", "claude-x"])
def test_an_input_file_reaches_the_provider_as_its_own_kind_of_document(client, upstream_a, upstream_claude,
                                                                        model) -> None:
    pdf = "JVBERi0xLjQKJSVFT0YK"
    client.responses.create(model=model, store=False, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "summarize"},
        {"type": "input_file", "filename": "brief.pdf", "file_data": f"data:application/pdf;base64,{pdf}"}]}])
    if model == "gpt-x":
        part = upstream_a.last.body["messages"][-1]["content"][1]
        assert part == {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}",
                                                 "filename": "brief.pdf"}}
    else:
        block = upstream_claude.last.body["messages"][-1]["content"][1]
        assert block["type"] == "document" and block["source"]["data"] == pdf and block["title"] == "brief.pdf"
