"""The demo provider through the official SDKs: every endpoint answers in its own wire format, marked
as demo output, and it is a provider like any other — usage, the cache and fallback apply — that is
on by itself only when no provider is usable."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import anthropic
import pytest
from openai import OpenAI
from pydantic import BaseModel

from core.config import default_config_data, parse_config
from handlers.serve import DEMO_KEY
from tests.e2e.conftest import closed_port_url
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]},
                                     "days": {"type": "integer"}}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def demo(dynamo_url: str) -> Iterator[Running]:
    """The built-in defaults with no provider key: what `make serve` starts on a fresh machine."""
    cfg = parse_config(default_config_data(), "<built-in defaults>")
    with run_gateway(cfg, dynamo_url, demo=None) as running:
        yield running


@pytest.fixture
def client(demo: Running) -> Iterator[OpenAI]:
    with OpenAI(base_url=demo.base_url, api_key=DEMO_KEY, max_retries=0, timeout=10) as sdk:
        yield sdk


def test_with_no_provider_usable_the_demo_answers_every_model_with_the_demo_key(demo: Running,
                                                                                client: OpenAI) -> None:
    assert demo.local.demo and demo.local.generated_key == DEMO_KEY
    assert sorted(demo.local.gateway.adapters) == ["demo"]
    listed = {m.id for m in client.models.list()}
    assert {"gpt-4o-mini", "claude-sonnet-4-5", "text-embedding-3-small", "gpt-image-1"} <= listed
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello!"}])
    text = reply.choices[0].message.content or ""
    assert text.startswith("[demo]") and "“Hello!”" in text and "demo provider" in text
    assert reply.model_extra is not None and reply.model_extra["_routing"]["provider"] == "demo"
    assert reply.model == "gpt-4o-mini" and reply.usage is not None and reply.usage.completion_tokens > 0


def test_a_stream_comes_in_pieces_with_usage_last(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="claude-sonnet-4-5", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "Count to 5"}]))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 5 and "".join(pieces).startswith("[demo]")
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_tools_are_called_with_arguments_that_fit_their_schema_then_answered(client: OpenAI) -> None:
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "demo", "unit": "c", "days": 1}
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}]
    second = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    assert "18 C and sunny" in (second.choices[0].message.content or "")
    streamed = list(client.chat.completions.create(model="gpt-4o", stream=True, tools=[WEATHER],
                                                   messages=[{"role": "user", "content": "Weather?"}]))
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                        for c in streamed if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(arguments)["city"] == "demo"


def test_structured_output_fits_the_schema(client: OpenAI) -> None:
    class Person(BaseModel):
        name: str
        age: int
        tags: list[str]

    parsed = client.beta.chat.completions.parse(model="gpt-4.1", response_format=Person,
                                                messages=[{"role": "user", "content": "Ada, 36"}])
    assert parsed.choices[0].message.parsed == Person(name="demo", age=1, tags=[])


def test_embeddings_in_both_encodings_and_images(client: OpenAI) -> None:
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "a"])   # SDK asks base64
    assert [len(d.embedding) for d in vectors.data] == [1536] * 3
    assert vectors.data[0].embedding == vectors.data[2].embedding != vectors.data[1].embedding
    assert abs(sum(v * v for v in vectors.data[0].embedding) - 1) < 1e-4
    floats = client.embeddings.create(model="text-embedding-3-small", input="a", dimensions=8,
                                      encoding_format="float")
    assert len(floats.data[0].embedding) == 8
    image = client.images.generate(model="gpt-image-1", prompt="A lighthouse at dawn", n=2)
    assert len(image.data) == 2 and (image.data[0].revised_prompt or "").startswith("[demo]")
    assert base64.b64decode(image.data[0].b64_json or "")[:8] == b"\x89PNG\r\n\x1a\n"


def test_messages_and_responses_through_their_sdks(demo: Running, client: OpenAI) -> None:
    claude = anthropic.Anthropic(base_url=demo.url, api_key=DEMO_KEY, max_retries=0)
    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=256,
                                     messages=[{"role": "user", "content": "Hello!"}])
    assert message.content[0].type == "text" and message.content[0].text.startswith("[demo]")
    with claude.messages.stream(model="gpt-4o-mini", max_tokens=256, tools=[{
            "name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}],
            messages=[{"role": "user", "content": "Weather?"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[-1].input["city"] == "demo"
    response = client.responses.create(model="gpt-4o-mini", input="Hi there")
    assert response.output_text.startswith("[demo]") and "“Hi there”" in response.output_text
    events = [e.type for e in client.responses.create(model="gpt-4o-mini", input="Hi", stream=True)]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_usage_and_the_cache_apply(demo: Running, client: OpenAI) -> None:
    usage = demo.local.gateway.usage
    assert usage is not None
    records: list = []
    usage.listeners.append(records.append)
    body = {"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": f"cache {time.time()}"}]}
    first = client.chat.completions.with_raw_response.create(**body)
    second = client.chat.completions.with_raw_response.create(**body)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    usage.listeners.remove(records.append)
    assert any(r.provider == "demo" and r.model == "gpt-4o-mini" and r.completion_tokens > 0 for r in records)


def test_demo_is_off_when_a_provider_is_usable_and_behind_every_route_when_asked(dynamo_url: str) -> None:
    upstream = FakeOpenAI("real")
    with upstream:
        models = {"m": {"price": {"input": 1, "output": 1}, "routes": [{"provider": "real", "model": "x"}]},
                  "down": {"price": {"input": 1, "output": 1}, "routes": [{"provider": "dead", "model": "y"}]}}
        cfg = config({"real": upstream.base_url, "dead": closed_port_url()}, models)
        with run_gateway(cfg, dynamo_url, demo=None) as auto:
            assert "demo" not in auto.local.gateway.adapters and not auto.local.demo
        with run_gateway(cfg, dynamo_url, demo=True) as asked, \
                OpenAI(base_url=asked.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
            real = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            rescued = sdk.chat.completions.create(model="down", messages=[{"role": "user", "content": "hi"}])
    assert real.model_extra is not None and real.model_extra["_routing"]["provider"] == "real"
    assert len(upstream.received) == 1
    assert rescued.model_extra is not None and rescued.model_extra["_routing"]["provider"] == "demo"
    assert "fell back" in rescued.model_extra["_routing"]["reason"]
