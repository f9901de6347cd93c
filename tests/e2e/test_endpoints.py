"""The rest of the OpenAI surface with the official SDK — legacy completions, embeddings, images — and
the Azure and Bedrock providers, against fakes that check the URL shapes and wire formats."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.azure import FakeAzure
from tests.fakes.bedrock import TOOL_INPUT as BEDROCK_TOOL_INPUT
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.openai import FakeOpenAI, vector
from tests.support import TEST_KEY, Running, config, run_gateway

AZURE_KEY = "azure-secret-key-123"
BEDROCK_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": WEATHER}}]


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock("bedrock") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, azure: FakeAzure, bedrock: FakeBedrock, dynamo_url: str) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AZURE_TEST_KEY", AZURE_KEY)
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            env.setenv(name, value)
        cfg = config(
            {"gpt": upstream_a.base_url,
             "azure": {"kind": "azure", "base_url": azure.url, "api_key_env": "AZURE_TEST_KEY",
                       "api_version": "2024-10-21", "timeout_s": 2},
             "azurev1": {"kind": "azure", "base_url": f"{azure.url}/openai/v1", "api_key_env": "AZURE_TEST_KEY",
                         "timeout_s": 2},
             "bedrock": {"kind": "bedrock", "base_url": bedrock.url, "region": "us-east-1", "timeout_s": 2}},
            {"instruct": {"type": "completion", "routes": [{"provider": "gpt", "model": "gpt-3.5-turbo-instruct"}]},
             "chatty": {"routes": [{"provider": "gpt", "model": "gpt-4o"}]},
             "both": {"routes": [{"provider": "gpt", "model": "gpt-4o"}, {"provider": "azure", "model": "dep-4o"}]},
             "embed": {"type": "embedding", "routes": [{"provider": "gpt", "model": "text-embedding-3-small"}]},
             "dalle": {"type": "image", "routes": [{"provider": "gpt", "model": "dall-e-3"}]},
             "azure-chat": {"routes": [{"provider": "azure", "model": "my-gpt4o-deployment"}]},
             "azure-v1": {"routes": [{"provider": "azurev1", "model": "gpt-4o"}]},
             "azure-embed": {"type": "embedding", "routes": [{"provider": "azure", "model": "embed-deployment"}]},
             "bedrock-claude": {"routes": [{"provider": "bedrock", "model": BEDROCK_MODEL}]},
             "bedrock-then-gpt": {"routes": [{"provider": "bedrock", "model": BEDROCK_MODEL},
                                             {"provider": "gpt", "model": "gpt-4o"}]},
             "titan": {"type": "embedding",
                       "routes": [{"provider": "bedrock", "model": "amazon.titan-embed-text-v2:0"}]},
             "cohere-embed": {"type": "embedding",
                              "routes": [{"provider": "bedrock", "model": "cohere.embed-english-v3"}]}})
        with run_gateway(cfg, dynamo_url) as running:
            yield running


@pytest.fixture
def client(gateway: Running) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=TEST_KEY, max_retries=0, timeout=15) as sdk:
        yield sdk


# -- /v1/completions -----------------------------------------------------------------------------
def test_a_completion_model_goes_to_the_upstreams_completions(client, upstream_a) -> None:
    reply = client.completions.create(model="instruct", prompt=["Say hi", "Say bye"], suffix="!")
    assert [(c.index, c.text) for c in reply.choices] == [(0, "Completed by alpha.!"), (1, "Completed by alpha.!")]
    assert reply.object == "text_completion" and reply.model_extra["provider"] == "gpt"
    sent = upstream_a.last
    assert sent.path == "/v1/completions"
    assert (sent.body["prompt"], sent.body["max_tokens"], sent.body["model"]) == (
        ["Say hi", "Say bye"], 16, "gpt-3.5-turbo-instruct")
    streamed = client.completions.create(model="instruct", prompt="Say hi", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "Completed by alpha."


def test_a_chat_model_answers_completions_through_chat(client, upstream_a) -> None:
    reply = client.completions.create(model="chatty", prompt=["First?", "Second?"], n=2, max_tokens=20)
    assert [(c.index, c.text) for c in reply.choices] == [(0, "Hello from alpha."), (1, "Hello from alpha."),
                                                         (2, "Hello from alpha."), (3, "Hello from alpha.")]
    sent = sorted(r.body["messages"][0]["content"] for r in upstream_a.received)
    assert sent == ["First?", "Second?"]
    assert all(r.path == "/v1/chat/completions" and r.body["max_tokens"] == 20 and "prompt" not in r.body
               for r in upstream_a.received)
    assert reply.usage.total_tokens == sum(c for c in (reply.usage.prompt_tokens, reply.usage.completion_tokens))
    echoed = client.completions.create(model="chatty", prompt="Q: ", echo=True)
    assert echoed.choices[0].text == "Q: Hello from alpha."


def test_a_completion_stream_through_chat(client) -> None:
    chunks = list(client.completions.create(model="chatty", prompt="hi", stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello from alpha."
    assert chunks[-1].usage.total_tokens > 0
    assert all(c.object == "text_completion" for c in chunks)


@pytest.mark.parametrize(("kwargs", "code", "param"), [
    ({"model": "chatty", "prompt": [[1, 2, 3]]}, "invalid_prompt", "prompt"),
    ({"model": "chatty", "prompt": ["a", "b"], "stream": True}, "invalid_prompt", "prompt"),
    ({"model": "chatty", "prompt": 5}, "invalid_prompt", "prompt"),
    ({"model": "embed", "prompt": "x"}, "wrong_model_type", "model"),
    ({"model": "both", "prompt": "x", "extra_body": {"provider": "nope"}}, "invalid_provider", "provider"),
])
def test_bad_completions(client, kwargs, code: str, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(**kwargs)
    assert (caught.value.body["code"], caught.value.body["param"]) == (code, param)


def test_the_provider_field_chooses_the_provider(client, azure, upstream_a) -> None:
    reply = client.completions.create(model="both", prompt="hi", extra_body={"provider": "azure"})
    assert reply.choices[0].text == "Hello from azure." and reply.model_extra["provider"] == "azure"
    assert upstream_a.received == [] and "provider" not in azure.last.body


# -- /v1/embeddings ----------------------------------------------------------------------------------
def test_embeddings_in_order_with_dimensions_both_encodings(client, upstream_a) -> None:
    texts = ["alpha", "beta", "gamma"]
    result = client.embeddings.create(model="embed", input=texts, dimensions=6)   # the SDK asks for base64
    assert [d.index for d in result.data] == [0, 1, 2]
    for item, text in zip(result.data, texts, strict=True):
        assert item.embedding == pytest.approx(vector(json.dumps(text), 6), abs=1e-6)
    assert upstream_a.last.body["dimensions"] == 6 and upstream_a.last.body["encoding_format"] == "base64"
    as_floats = client.embeddings.create(model="embed", input="alpha", encoding_format="float")
    assert as_floats.data[0].embedding == vector(json.dumps("alpha"), 8)
    tokens = client.embeddings.create(model="embed", input=[[1, 2], [3]])
    assert len(tokens.data) == 2 and tokens.usage.total_tokens > 0


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "embed", "input": ""}, "input"), ({"model": "embed", "input": []}, "input"),
    ({"model": "embed", "input": "x", "dimensions": 0}, "dimensions"),
    ({"model": "embed", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ({"model": "chatty", "input": "x"}, "model"),
])
def test_bad_embeddings(gateway: Running, body: dict, param: str) -> None:
    response = httpx.post(f"{gateway.base_url}/embeddings", json=body, headers={"authorization": f"Bearer {TEST_KEY}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# -- /v1/images/generations ------------------------------------------------------------------------
def test_images(client, upstream_a) -> None:
    urls = client.images.generate(model="dalle", prompt="A lighthouse", n=2, size="1024x1024", quality="hd")
    assert [i.url for i in urls.data] == ["https://images.example/alpha.png"] * 2
    assert (upstream_a.last.body["size"], upstream_a.last.body["quality"]) == ("1024x1024", "hd")
    b64 = client.images.generate(model="dalle", prompt="A lighthouse", response_format="b64_json")
    assert b64.data[0].b64_json and b64.data[0].revised_prompt == "A lighthouse"


@pytest.mark.parametrize(("kwargs", "param"), [({"size": "999x999"}, "size"), ({"n": 11}, "n"),
                                              ({"quality": "ultra"}, "quality"), ({"prompt": " "}, "prompt")])
def test_bad_images(client, kwargs: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(**{"model": "dalle", "prompt": "x", **kwargs})
    assert caught.value.body["param"] == param


def test_models_list_every_type(client) -> None:
    types = {m.id: m.model_dump()["type"] for m in client.models.list()}
    assert (types["instruct"], types["chatty"], types["embed"], types["dalle"]) == (
        "completion", "chat", "embedding", "image")


# -- Azure ---------------------------------------------------------------------------------------
def test_azure_deployments_api_version_and_api_key(client, azure) -> None:
    reply = client.chat.completions.create(model="azure-chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from azure."
    sent = azure.last
    assert sent.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == AZURE_KEY and "Authorization" not in sent.headers
    streamed = client.chat.completions.create(model="azure-chat", stream=True,
                                              messages=[{"role": "user", "content": "hi"}])
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Hello from azure."
    client.embeddings.create(model="azure-embed", input="x")
    assert azure.last.path == "/openai/deployments/embed-deployment/embeddings"


def test_azure_v1_form(client, azure) -> None:
    reply = client.chat.completions.create(model="azure-v1", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from azure."
    assert azure.last.path == "/openai/v1/chat/completions" and azure.last.body["model"] == "gpt-4o"
    assert azure.last.query == {} and azure.last.headers["api-key"] == AZURE_KEY


# -- Bedrock -----------------------------------------------------------------------------------
def test_bedrock_converse(client, bedrock) -> None:
    reply = client.chat.completions.create(model="bedrock-claude", max_tokens=40, temperature=0.3, top_p=0.8,
                                           stop=["END"], messages=[{"role": "system", "content": "Be brief."},
                                                                   {"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from bedrock." and reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens > 0
    sent = bedrock.last
    assert sent.path == f"/model/{BEDROCK_MODEL}/converse"
    assert sent.body["system"] == [{"text": "Be brief."}]
    assert sent.body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 40, "temperature": 0.3, "topP": 0.8, "stopSequences": ["END"]}
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256")       # signed by botocore


def test_bedrock_converse_stream_and_a_tool_round_trip(client, bedrock) -> None:
    streamed = list(client.chat.completions.create(model="bedrock-claude", stream=True,
                                                   messages=[{"role": "user", "content": "hi"}]))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Hello from bedrock."
    chunks = list(client.chat.completions.create(model="bedrock-claude", tools=TOOLS, stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "Weather?"}]))
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(c.function.arguments for c in calls)) == BEDROCK_TOOL_INPUT
    assert chunks[-1].usage.completion_tokens > 0
    assert bedrock.last.body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    history = [{"role": "user", "content": "Weather?"},
               {"role": "assistant", "content": None, "tool_calls": [{"id": calls[0].id, "type": "function",
                "function": {"name": "get_weather", "arguments": json.dumps(BEDROCK_TOOL_INPUT)}}]},
               {"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees"}]
    answer = client.chat.completions.create(model="bedrock-claude", tools=TOOLS, messages=history)
    assert answer.choices[0].message.content == "The tool said: 18 degrees"
    assert bedrock.last.body["messages"][-1]["content"][0]["toolResult"]["toolUseId"] == calls[0].id


@pytest.mark.parametrize("stream", [False, True])
def test_bedrock_throttling_falls_back(client, bedrock, stream: bool) -> None:
    bedrock.fail_next(1, "429")
    reply = client.chat.completions.create(model="bedrock-then-gpt", stream=stream,
                                           messages=[{"role": "user", "content": "hi"}])
    text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream \
        else reply.choices[0].message.content
    assert text == "Hello from alpha."


@pytest.mark.parametrize(("fault", "error", "status", "code"), [
    ("429", openai.RateLimitError, 429, "provider_rate_limit"),
    ("400", openai.BadRequestError, 400, "invalid_request_error"),
    ("503", openai.APIStatusError, 502, "provider_error"),
])
def test_bedrock_errors(client, bedrock, fault, error, status: int, code: str) -> None:
    bedrock.fail_next(1, fault)
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="bedrock-claude", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status and caught.value.body["code"] == code


def test_bedrock_stream_broken_midway(client, bedrock) -> None:
    bedrock.fail_next(1, "error_event", after_chunks=2)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="bedrock-claude", stream=True,
                                                messages=[{"role": "user", "content": "hi"}]):
            pass


def test_bedrock_embeddings_titan_and_cohere(client, bedrock) -> None:
    titan = client.embeddings.create(model="titan", input=["one", "two"], dimensions=4)
    assert [d.embedding for d in titan.data] == [pytest.approx(vector("one", 4)), pytest.approx(vector("two", 4))]
    assert {r.body["inputText"] for r in bedrock.received} == {"one", "two"}
    cohere = client.embeddings.create(model="cohere-embed", input=["three"], encoding_format="float")
    assert cohere.data[0].embedding == pytest.approx(vector("three", 16))
    assert bedrock.last.path == "/model/cohere.embed-english-v3/invoke"
