"""Each Lambda function as Lambda runs it: buffered ones through their Mangum handler with their
events/ file, and `apex invoke` (the stand-in for `sam local invoke`) on each kind."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.lambda_runtime import Context, Invocation
from tests.fakes.lambda_runtime import EVENTS
from tests.fakes.openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
APEX = str(Path(sys.executable).parent / "apex")
EVENT_KEY = "sk-local-dev-key"     # the key the sample events carry


@pytest.fixture
def function_env(tmp_path: Path, upstream_a: FakeOpenAI, dynamo_url: str,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    config = tmp_path / "apex.toml"
    config.write_text(f"""
[providers.local]
base_url = "{upstream_a.base_url}"

[models."gpt-4o-mini"]
context_window = 128000
routes = [{{ provider = "local", model = "upstream-mini" }}]

[models."text-embedding-3-small"]
type = "embedding"
routes = [{{ provider = "local", model = "text-embedding-3-small" }}]

[models."dall-e-3"]
type = "image"
routes = [{{ provider = "local", model = "dall-e-3" }}]

[[keys]]
key = "{EVENT_KEY}"
plan = "pro"
""")
    env = {"APEX_CONFIG": str(config), "APEX_DYNAMODB_ENDPOINT": dynamo_url, "AWS_ACCESS_KEY_ID": "embedded",
           "AWS_SECRET_ACCESS_KEY": "embedded", "AWS_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield env


LOADED: list = []      # the functions a test started, closed when it ends


def function_module(name: str):
    """The handler module imported fresh, as a cold start would, with the test's environment."""
    module = importlib.reload(importlib.import_module(f"handlers.{name}"))
    LOADED.append(module)
    return module


@pytest.fixture(autouse=True)
def _functions_closed() -> Iterator[None]:
    """A Lambda process never closes its provider connections; the suite's functions do, on the
    loop Mangum ran them on, when their test ends."""
    yield
    while LOADED:
        asyncio.get_event_loop().run_until_complete(LOADED.pop().gateway.aclose())


def lambda_call(handler, event_file: str) -> dict:
    event = json.loads((EVENTS / event_file).read_text())
    return handler(event, Context(Invocation("test", event, 2**62, "arn:aws:lambda:test")))


@pytest.mark.parametrize(("module", "event_file", "check"), [
    ("models", "models.json", lambda body: [m["id"] for m in body["data"]] == [
        "gpt-4o-mini", "text-embedding-3-small", "dall-e-3"]),
    ("models", "models-retrieve.json", lambda body: body["id"] == "gpt-4o-mini" and body["context_window"] == 128000),
    ("chat", "chat.json", lambda body: body["choices"][0]["message"]["content"] == "Hello from alpha."),
    ("messages", "messages.json", lambda body: body["content"][0]["text"] == "Hello from alpha."),
    ("messages", "messages-count-tokens.json", lambda body: body["input_tokens"] > 0),
    ("completions", "completions.json", lambda body: [c["index"] for c in body["choices"]] == [0, 1]),
    ("embeddings", "embeddings.json", lambda body: [d["index"] for d in body["data"]] == [0, 1]),
    ("images", "images.json", lambda body: body["data"][0]["url"].endswith("/alpha.png")),
    ("optimize", "optimize.json", lambda body: body["tokens_saved"] > 0 and body["similarity_score"] >= 0.9),
])
def test_each_function_answers_its_event_through_mangum(function_env, module, event_file, check) -> None:
    result = lambda_call(function_module(module).handler, event_file)
    assert result["statusCode"] == 200
    assert result["headers"]["content-type"] == "application/json"
    assert check(json.loads(result["body"]))


def test_a_buffered_function_keeps_error_statuses(function_env) -> None:
    event = json.loads((EVENTS / "models.json").read_text())
    event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = "Bearer nope-nope"
    result = function_module("models").handler(event, Context(Invocation("t", event, 2**62, "arn")))
    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"]["code"] == "invalid_api_key"


def apex_invoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APEX_"))}
    return subprocess.run([APEX, "invoke", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
                          timeout=60)


def test_apex_invoke_prints_a_buffered_functions_lambda_result(function_env) -> None:
    result = apex_invoke(function_env, "ModelsFunction", "-e", "events/models.json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["statusCode"] == 200
    assert json.loads(output["body"])["data"][0]["id"] == "gpt-4o-mini"


def test_apex_invoke_prints_a_streaming_functions_prelude_then_its_stream(function_env) -> None:
    result = apex_invoke(function_env, "ChatFunction", "-e", "events/chat-stream.json")
    assert result.returncode == 0, result.stderr
    prelude, _, stream = result.stdout.partition("\n")
    assert json.loads(prelude)["statusCode"] == 200
    events = [block.removeprefix("data: ") for block in stream.split("\n\n") if block.strip()]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"]["total_tokens"] > 0      # include_usage asked in the event


def test_apex_invoke_streams_anthropic_events(function_env) -> None:
    result = apex_invoke(function_env, "MessagesFunction", "-e", "events/messages-stream.json")
    assert result.returncode == 0, result.stderr
    prelude, _, stream = result.stdout.partition("\n")
    assert json.loads(prelude)["statusCode"] == 200
    kinds = [line.removeprefix("event: ") for line in stream.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


def test_apex_invoke_names_the_functions_when_one_is_unknown(function_env) -> None:
    result = apex_invoke(function_env, "NoSuchFunction", "-e", "events/models.json")
    assert result.returncode != 0
    assert "ChatFunction" in result.stderr and "ModelsFunction" in result.stderr


def test_responses_are_created_by_one_function_and_read_by_another(function_env) -> None:
    created = lambda_call(function_module("responses").handler, "responses.json")
    assert created["statusCode"] == 200
    response_id = json.loads(created["body"])["id"]
    reader = function_module("stored_responses").handler

    def call(event_file: str) -> dict:
        event = json.loads((EVENTS / event_file).read_text())
        sample_id = event["pathParameters"]["response_id"]
        event["path"] = event["path"].replace(sample_id, response_id)
        event["pathParameters"]["response_id"] = response_id
        return reader(event, Context(Invocation("t", event, 2**62, "arn")))

    retrieved = call("stored_responses.json")
    assert retrieved["statusCode"] == 200
    assert json.loads(retrieved["body"])["output"][0]["content"][0]["text"] == "Hello from alpha."
    items = call("stored_responses-input-items.json")
    assert json.loads(items["body"])["data"][0]["content"][0]["text"] == "Say hello in five words."
    assert call("stored_responses-delete.json")["statusCode"] == 200
    assert call("stored_responses.json")["statusCode"] == 404
