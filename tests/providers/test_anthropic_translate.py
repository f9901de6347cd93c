"""Golden pairs for the Anthropic ↔ OpenAI translation, run both ways where the mapping is reversible;
every lossy step has its own row, saying what it decides."""

from __future__ import annotations

import copy

import pytest

from core.errors import RequestError
from providers.anthropic.stream import AnthropicEvents, OpenAIChunks
from providers.anthropic.translate import (
    answers_by_tool,
    request_to_anthropic,
    request_to_openai,
    response_to_anthropic,
    response_to_openai,
)

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
PNG = "iVBORw0KGgo="

# (name, OpenAI request, Anthropic request): reversible, so each is also checked right to left.
REQUESTS = [
    ("text", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 100}),
    ("system and turns", {"messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Q1"},
                                       {"role": "assistant", "content": "A1"},
                                       {"role": "user", "content": "Q2"}], "max_tokens": 50},
     {"system": "Be brief.", "max_tokens": 50, "messages": [
         {"role": "user", "content": [{"type": "text", "text": "Q1"}]},
         {"role": "assistant", "content": [{"type": "text", "text": "A1"}]},
         {"role": "user", "content": [{"type": "text", "text": "Q2"}]}]}),
    ("images", {"max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]}]},
     {"max_tokens": 10, "messages": [{"role": "user", "content": [
         {"type": "text", "text": "What is this?"},
         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
         {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]}]}),
    ("sampling and stops", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "temperature": 0.5,
                            "top_p": 0.9, "stop": ["END", "\n\n"], "stream": True, "user": "u-1"},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "max_tokens": 5,
      "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END", "\n\n"], "stream": True,
      "metadata": {"user_id": "u-1"}}),
    ("tools, forced, not parallel", {
        "messages": [{"role": "user", "content": "weather?"}], "max_tokens": 20,
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                                    "parameters": WEATHER}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}, "parallel_tool_calls": False},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "weather?"}]}], "max_tokens": 20,
      "tools": [{"name": "get_weather", "description": "Weather now", "input_schema": WEATHER}],
      "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}}),
    ("tool_choice required is any", {
        "messages": [{"role": "user", "content": "w"}], "max_tokens": 20, "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f", "description": "", "parameters": WEATHER}}]},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "w"}]}], "max_tokens": 20,
      "tools": [{"name": "f", "description": "", "input_schema": WEATHER}], "tool_choice": {"type": "any"}}),
    ("a tool round trip, results merged into one user turn", {"max_tokens": 30, "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "t2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "18C"},
        {"role": "tool", "tool_call_id": "t2", "content": "24C"}]},
     {"max_tokens": 30, "messages": [
         {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
         {"role": "assistant", "content": [
             {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
             {"type": "tool_use", "id": "t2", "name": "get_weather", "input": {"city": "Rome"}}]},
         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                                      {"type": "tool_result", "tool_use_id": "t2", "content": "24C"}]}]}),
]


@pytest.mark.parametrize(("openai", "anthropic"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_requests_both_ways(openai: dict, anthropic: dict) -> None:
    before = copy.deepcopy(openai)
    assert request_to_anthropic(openai) == anthropic
    assert openai == before                      # the input is never changed
    back = request_to_openai({**anthropic, "model": "m"})
    assert back == {**openai, "model": "m"}


# (name, OpenAI request, what the Anthropic request must contain): the lossy direction, one decision each.
DECISIONS = [
    ("max_tokens defaults to 4096 (Anthropic requires it)", {"messages": [{"role": "user", "content": "x"}]},
     {"max_tokens": 4096}),
    ("max_completion_tokens wins", {"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 7,
                                    "max_tokens": 9}, {"max_tokens": 7}),
    ("temperature above 1 is clamped", {"messages": [{"role": "user", "content": "x"}], "temperature": 1.7},
     {"temperature": 1.0}),
    ("system and developer messages anywhere join the top-level system",
     {"messages": [{"role": "developer", "content": "A"}, {"role": "user", "content": "x"},
                   {"role": "system", "content": [{"type": "text", "text": "B"}]}]},
     {"system": "A\n\nB", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}),
    ("a single stop string becomes a list", {"messages": [{"role": "user", "content": "x"}], "stop": "END"},
     {"stop_sequences": ["END"]}),
]
DROPPED = ("n", "seed", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias")


@pytest.mark.parametrize(("openai", "expected"), [d[1:] for d in DECISIONS], ids=[d[0] for d in DECISIONS])
def test_lossy_request_decisions(openai: dict, expected: dict) -> None:
    translated = request_to_anthropic(openai)
    assert {k: translated[k] for k in expected} == expected


def test_fields_without_an_anthropic_counterpart_are_dropped() -> None:
    translated = request_to_anthropic({"messages": [{"role": "user", "content": "x"}], "n": 1, "seed": 1,
                                       "logprobs": True, "top_logprobs": 2, "presence_penalty": 1,
                                       "frequency_penalty": 1, "logit_bias": {"1": 1}})
    assert not set(DROPPED) & set(translated)


SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"],
          "additionalProperties": False}


@pytest.mark.parametrize(("response_format", "output_format"), [
    ({"type": "json_schema", "json_schema": {"name": "title", "schema": SCHEMA, "strict": True}},
     {"type": "json_schema", "schema": SCHEMA}),
    ({"type": "json_object"}, {"type": "json_schema", "schema": {"type": "object", "additionalProperties": True}}),
])
def test_structured_output_crosses_both_ways(response_format: dict, output_format: dict) -> None:
    to_anthropic = request_to_anthropic({"messages": [{"role": "user", "content": "x"}],
                                         "response_format": response_format})
    assert to_anthropic["output_config"] == {"format": output_format}
    back = request_to_openai({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                              "output_config": {"format": output_format, "effort": "high"}})
    if response_format["type"] == "json_schema":      # Anthropic's schemas are strict: they stay strict
        assert back["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}
    else:
        assert back["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize("content", ["exit 1: no such file", [{"type": "text", "text": "exit 1: no such file"}],
                                     "Error: exit 1: no such file"])
def test_a_failed_tool_result_survives_openai_and_back(content) -> None:
    """OpenAI has no `is_error`: the flag travels as the tool message's "Error: " prefix and returns."""
    anthropic = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ls", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": content,
                                      "is_error": True}]}]}
    openai = request_to_openai(anthropic)
    assert openai["messages"][-1] == {"role": "tool", "tool_call_id": "t1", "content": "Error: exit 1: no such file"}
    back = request_to_anthropic(openai)["messages"][-1]["content"]
    assert back == [{"type": "tool_result", "tool_use_id": "t1", "content": "exit 1: no such file", "is_error": True}]
    fine = request_to_anthropic({"messages": [{"role": "tool", "tool_call_id": "t1", "content": "ok"}]})
    assert "is_error" not in fine["messages"][-1]["content"][0]


def test_an_answer_tool_is_not_forced_on_a_thinking_model() -> None:
    """Anthropic refuses a forced tool with thinking on: the answer tool is then offered, not forced."""
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 30000, "reasoning_effort": "high",
            "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": SCHEMA}}}
    assert answers_by_tool("claude-3-7-sonnet-20250219", body) and not answers_by_tool("claude-sonnet-4-5", body)
    sent = request_to_anthropic(body, answer_tool=True)
    assert sent["thinking"]["type"] == "enabled" and sent["tool_choice"] == {"type": "auto"}
    assert sent["tools"][0]["input_schema"] == SCHEMA and "output_config" not in sent


def test_the_structured_outputs_betas_output_format_reaches_openai_too() -> None:
    """litellm still sends the beta's top-level `output_format`, which Anthropic serves."""
    back = request_to_openai({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                              "output_format": {"type": "json_schema", "schema": SCHEMA}})
    assert back["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}


def test_more_than_one_choice_cannot_reach_anthropic() -> None:
    with pytest.raises(RequestError) as refused:
        request_to_anthropic({"messages": [{"role": "user", "content": "x"}], "n": 2})
    assert (refused.value.status, refused.value.code, refused.value.param) == (400, "unsupported_parameter", "n")


@pytest.mark.parametrize(("user_id", "user"), [("u-123", "u-123"), ('{"device_id":"' + "d" * 140 + '"}', None)])
def test_a_user_id_becomes_openais_user_only_if_it_fits(user_id: str, user: str | None) -> None:
    back = request_to_openai({"model": "m", "max_tokens": 5, "metadata": {"user_id": user_id},
                              "messages": [{"role": "user", "content": "x"}]})
    assert back.get("user") == user


def test_top_k_and_thinking_do_not_reach_openai() -> None:
    back = request_to_openai({"model": "m", "max_tokens": 5, "top_k": 5, "thinking": {"type": "enabled"},
                              "messages": [{"role": "user", "content": "x"}]})
    assert "top_k" not in back and "thinking" not in back


def test_history_with_arguments_that_are_not_a_json_object_is_refused() -> None:
    with pytest.raises(RequestError) as caught:
        request_to_anthropic({"messages": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]})
    assert caught.value.code == "invalid_messages"


# (name, Anthropic message, OpenAI completion): both ways.
USAGE_A = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
USAGE_O = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
           "prompt_tokens_details": {"cached_tokens": 0}}
RESPONSES = [
    ("text, end_turn is stop",
     {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "stop_sequence": None,
      "content": [{"type": "text", "text": "Hi!"}], "stop_reason": "end_turn", "usage": USAGE_A},
     {"id": "msg_1", "object": "chat.completion", "created": 7, "model": "claude", "usage": USAGE_O,
      "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "Hi!", "refusal": None}}]}),
    ("max_tokens is length",
     {"id": "msg_2", "type": "message", "role": "assistant", "model": "claude", "stop_sequence": None,
      "content": [{"type": "text", "text": "Hi"}], "stop_reason": "max_tokens", "usage": USAGE_A},
     {"id": "msg_2", "object": "chat.completion", "created": 7, "model": "claude", "usage": USAGE_O,
      "choices": [{"index": 0, "logprobs": None, "finish_reason": "length",
                   "message": {"role": "assistant", "content": "Hi", "refusal": None}}]}),
    ("tool_use is tool_calls",
     {"id": "msg_3", "type": "message", "role": "assistant", "model": "claude", "stop_sequence": None,
      "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
      "stop_reason": "tool_use", "usage": USAGE_A},
     {"id": "msg_3", "object": "chat.completion", "created": 7, "model": "claude", "usage": USAGE_O,
      "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls",
                   "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                       {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}}]}),
]


@pytest.mark.parametrize(("anthropic", "openai"), [r[1:] for r in RESPONSES], ids=[r[0] for r in RESPONSES])
def test_responses_both_ways(anthropic: dict, openai: dict) -> None:
    assert response_to_openai(anthropic, created=7) == openai
    assert response_to_anthropic(openai) == anthropic


def test_stop_sequence_is_stop_and_comes_back_as_end_turn() -> None:
    message = {**RESPONSES[0][1], "stop_reason": "stop_sequence", "stop_sequence": "END"}
    completion = response_to_openai(message, 7)
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert response_to_anthropic(completion)["stop_reason"] == "end_turn"   # which sequence is unknown


def test_cached_prompt_tokens_cross_both_ways() -> None:
    usage = {"input_tokens": 4, "output_tokens": 2, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 5}
    completion = response_to_openai({**RESPONSES[0][1], "usage": usage}, 7)
    assert completion["usage"] == {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14,
                                   "prompt_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 3}}
    assert response_to_anthropic(completion)["usage"] == usage               # and back, each kind in its place


def test_broken_tool_arguments_from_an_upstream_are_kept_not_lost() -> None:
    completion = copy.deepcopy(RESPONSES[2][2])
    completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"a": 1'
    assert response_to_anthropic(completion)["content"][0]["input"] == {"_raw_arguments": '{"a": 1'}


# -- streams -----------------------------------------------------------------------------------------
ANTHROPIC_EVENTS = [
    ("message_start", {"type": "message_start", "message": {"id": "msg_9", "model": "claude", "usage": {
        "input_tokens": 10, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {
        "type": "input_json_delta", "partial_json": '{"a":'}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {
        "type": "input_json_delta", "partial_json": "1}"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}}),
    ("message_stop", {"type": "message_stop"}),
]


def delta(content: dict, finish: str | None = None) -> dict:
    return {"id": "msg_9", "object": "chat.completion.chunk", "created": 7, "model": "claude",
            "choices": [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]}


OPENAI_CHUNKS = [
    delta({"role": "assistant", "content": ""}),
    delta({"content": "Hi"}),
    delta({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function",
                           "function": {"name": "f", "arguments": ""}}]}),
    delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    delta({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
    delta({}, "tool_calls"),
    {**delta({}), "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16,
                                            "prompt_tokens_details": {"cached_tokens": 0}}},
]


def test_anthropic_events_become_openai_chunks() -> None:
    translator = OpenAIChunks("claude", created=7, include_usage=True)
    chunks = [chunk for kind, data in ANTHROPIC_EVENTS for chunk in translator.feed(kind, data)]
    assert chunks == OPENAI_CHUNKS
    assert translator.finished


def test_openai_chunks_become_anthropic_events() -> None:
    translator = AnthropicEvents("claude")
    events = [e for chunk in OPENAI_CHUNKS for e in translator.feed(chunk)] + translator.finish()
    kinds = [kind for kind, _ in events]
    assert kinds == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    # The same content as the Anthropic original, block for block.
    original = [(k, d) for k, d in ANTHROPIC_EVENTS if k.startswith("content_block")]
    produced = [(k, d) for k, d in events if k.startswith("content_block")]
    assert produced == original
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                             "usage": {"output_tokens": 6, "input_tokens": 10}}
    assert events[0][1]["message"]["id"] == "msg_9"


def test_a_system_block_list_becomes_one_openai_system_message() -> None:
    back = request_to_openai({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                              "system": [{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                                         {"type": "text", "text": "B"}]})
    assert back["messages"][0] == {"role": "system", "content": "A\nB"}


@pytest.mark.parametrize(("thinking", "output_config", "effort"), [
    ({"type": "enabled", "budget_tokens": 2048}, None, "low"),
    ({"type": "enabled", "budget_tokens": 10000}, None, "medium"),
    ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
    ({"type": "adaptive"}, {"effort": "max"}, "high"),
    ({"type": "adaptive"}, None, "medium"),
    ({"type": "disabled"}, None, None),
])
def test_thinking_becomes_a_reasoning_effort(thinking: dict, output_config: dict | None, effort: str | None) -> None:
    back = request_to_openai({"model": "m", "max_tokens": 32000, "thinking": thinking,
                              "messages": [{"role": "user", "content": "x"}],
                              **({"output_config": output_config} if output_config else {})})
    assert back.get("reasoning_effort") == effort


@pytest.mark.parametrize(("effort", "max_tokens", "thinking"), [
    ("high", 32000, {"type": "enabled", "budget_tokens": 24576}),
    ("medium", 4096, {"type": "enabled", "budget_tokens": 4095}),     # under max_tokens, as Anthropic requires
    ("low", 1000, None),                                               # no room for the smallest budget
    ("minimal", 32000, None),
])
def test_a_reasoning_effort_becomes_thinking_that_fits(effort: str, max_tokens: int, thinking: dict | None) -> None:
    out = request_to_anthropic({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": effort,
                                "max_tokens": max_tokens, "temperature": 0.2})
    assert out.get("thinking") == thinking
    assert ("temperature" in out) == (thinking is None)              # thinking takes no temperature
