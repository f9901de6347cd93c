"""Every Lambda function of template.yaml as Lambda starts it: a process of its own, from the `sam build`
output (the function's directory as /var/task, the layer's python/ as /opt/python) on Python 3.12,
buffered functions through awslambdaric and streaming ones through their exec wrapper handed the
runtime's command line, against the Runtime API emulator on loopback. Each file in events/ goes
through the function whose route it is, and what API Gateway would relay is checked, with what
reached the fake upstream. `apex invoke` is run the same way, as a user runs it."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import boto3
import pytest

from core.keys import create_key
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.keys import DynamoKeyStore
from core.storage.tables import table_names
from handlers.lambda_local import (
    BUILD,
    RUNTIME_DIR,
    find_function,
    from_build,
    function_for,
    function_names,
    load_template,
)
from handlers.runtime_api import Received
from tests.fakes.lambda_runtime import EVENTS, LambdaProcess, event
from tests.fakes.openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
APEX = str(Path(sys.executable).parent / "apex")
TEMPLATE = load_template(ROOT / "template.yaml")
SOURCES = ("core", "providers", "handlers")


# -- the build ---------------------------------------------------------------------------------------

def stale(build: Path) -> str | None:
    """Why the build output is not the checkout's code, or None: a source file its copy differs
    from (or lacks; ChatFunction ships every file), or the layer built from other dependencies."""
    copy = build / "ChatFunction"
    for path in sorted(chain.from_iterable((ROOT / d).rglob("*") for d in SOURCES)):
        if path.is_file() and "__pycache__" not in path.parts:
            built = copy / path.relative_to(ROOT)
            if not built.is_file() or built.read_bytes() != path.read_bytes():
                return f"{path.relative_to(ROOT)} differs from its build copy"
    import tomllib

    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = build / "DependenciesLayer" / "requirements.txt"
    if not requirements.is_file() or requirements.read_text().split() != wanted:
        return "the layer was built from other dependencies"
    return None


@pytest.fixture(scope="session")
def lambda_build() -> Path:
    """The `sam build` output and the runtime client; made (once, whichever worker comes first) when
    missing or older than the checkout. `make test` makes both before the suite starts."""
    (ROOT / ".aws-sam").mkdir(exist_ok=True)
    with open(ROOT / ".aws-sam" / "suite.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stale(BUILD) or not (RUNTIME_DIR / "runtime" / "awslambdaric").is_dir():
            done = subprocess.run(["make", "-s", "sam-check", "lambda-runtime"], cwd=ROOT, capture_output=True,
                                  text=True, timeout=900)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert (reason := stale(BUILD)) is None, reason
    return BUILD


# -- the world around a function -------------------------------------------------------------------

@pytest.fixture
def key(dynamo_url: str) -> str:
    """A gateway key as deployments have them: created through the key store, kept hashed in DynamoDB."""
    async def create() -> str:
        db = DynamoDB(table_names({}), dynamo_url, "us-east-1", credentials=CREDENTIALS)
        try:
            return (await create_key(DynamoKeyStore(db), plan="pro", name="lambda-suite"))[0]
        finally:
            await db.aclose()

    return asyncio.run(create())


CONFIG = """
[providers.local]
base_url = "{upstream}"
timeout_s = 5

[models."gpt-4o-mini"]
context_window = 128000
routes = [{{ provider = "local", model = "upstream-mini" }}]

[models."text-embedding-3-small"]
type = "embedding"
routes = [{{ provider = "local", model = "text-embedding-3-small" }}]

[models."dall-e-3"]
type = "image"
routes = [{{ provider = "local", model = "dall-e-3" }}]
"""


@pytest.fixture
def overrides(tmp_path: Path, upstream_a: FakeOpenAI, dynamo_url: str) -> dict[str, str]:
    """What a deployment gets from its stack instead: the config, storage, credentials."""
    config = tmp_path / "apex.toml"
    config.write_text(CONFIG.format(upstream=upstream_a.base_url))
    return {"APEX_CONFIG": str(config), "APEX_DYNAMODB_ENDPOINT": dynamo_url,
            "AWS_ACCESS_KEY_ID": CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1]}


@pytest.fixture
def running(lambda_build: Path) -> Iterator[Callable[..., LambdaProcess]]:
    """Starts functions from the build; each is stopped when the test ends."""
    started: list[LambdaProcess] = []

    def run(logical_id: str, overrides: dict[str, str], parameters: dict[str, str] | None = None) -> LambdaProcess:
        function = find_function(TEMPLATE, logical_id, parameters)
        started.append(LambdaProcess(function, from_build(logical_id, lambda_build), overrides))
        return started[-1]

    yield run
    for process in started:
        log = process.close()
        assert "Unclosed client session" not in log, log


# -- which function an event is for, as API Gateway routes it -----------------------------------------

def function_of(sample: dict[str, Any]) -> str:
    name = function_for(TEMPLATE, sample)
    assert name is not None, sample.get("path") or sample.get("rawPath")
    return name


EVENT_FILES = sorted(p.name for p in EVENTS.glob("*.json"))
BY_FUNCTION = {name: [f for f in EVENT_FILES if function_of(json.loads((EVENTS / f).read_text())) == name]
               for name in function_names(TEMPLATE)}


def test_every_event_is_one_functions_and_every_function_has_events() -> None:
    assert sorted(chain.from_iterable(BY_FUNCTION.values())) == EVENT_FILES
    assert all(BY_FUNCTION.values()), BY_FUNCTION


# -- what API Gateway relays ---------------------------------------------------------------------------

def relayed(received: Received, streaming: bool) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body as API Gateway would relay them: from the prelude and the streamed
    body, or from the buffered proxy result."""
    assert received.error is None, received.error
    if streaming:
        assert received.headers["lambda-runtime-function-response-mode"] == "streaming"
        assert received.headers["content-type"] == "application/vnd.awslambda.http-integration-response"
        return received.prelude["statusCode"], received.prelude["headers"], received.body
    result = json.loads(received.raw)
    assert result["isBase64Encoded"] is False
    return result["statusCode"], result["headers"], result["body"].encode()


def sse_data(body: bytes) -> list[str]:
    return [line.removeprefix("data: ") for line in body.decode().splitlines() if line.startswith("data: ")]


def sse_kinds(body: bytes) -> list[str]:
    return [line.removeprefix("event: ") for line in body.decode().splitlines() if line.startswith("event: ")]


ALPHA = "Hello from alpha."
# Each sample event's check of the body its function answers (with 200, or the status in STATUS).
CHECKS: dict[str, Callable[[bytes], bool]] = {
    "models.json": lambda b: [m["id"] for m in json.loads(b)["data"]] == ["gpt-4o-mini", "text-embedding-3-small",
                                                                          "dall-e-3"],
    "models-retrieve.json": lambda b: json.loads(b)["context_window"] == 128000,
    "chat.json": lambda b: json.loads(b)["choices"][0]["message"]["content"] == ALPHA,
    "chat-stream.json": lambda b: sse_data(b)[-1] == "[DONE]"
    and json.loads(sse_data(b)[-2])["usage"]["total_tokens"] > 0,
    "chat-function-url.json": lambda b: "".join(json.loads(d)["choices"][0]["delta"].get("content", "")
                                                for d in sse_data(b)[:-1]) == ALPHA,
    "completions.json": lambda b: [c["index"] for c in json.loads(b)["choices"]] == [0, 1],
    "embeddings.json": lambda b: [d["index"] for d in json.loads(b)["data"]] == [0, 1],
    "images.json": lambda b: json.loads(b)["data"][0]["url"].endswith("/alpha.png"),
    "messages.json": lambda b: json.loads(b)["content"][0]["text"] == ALPHA,
    "messages-stream.json": lambda b: sse_kinds(b)[0] == "message_start" and sse_kinds(b)[-1] == "message_stop",
    "messages-count-tokens.json": lambda b: json.loads(b)["input_tokens"] > 0,
    "optimize.json": lambda b: json.loads(b)["tokens_saved"] > 0 and json.loads(b)["similarity_score"] >= 0.9,
    "responses.json": lambda b: json.loads(b)["output"][0]["content"][0]["text"] == ALPHA,
    "responses-stream.json": lambda b: sse_kinds(b)[-1] == "response.completed",
    "admin.json": lambda b: "lambda-suite" in [k["name"] for k in json.loads(b)["data"]],
    "admin-create-key.json": lambda b: json.loads(b)["key"].startswith("sk-apex-"),
    "admin-usage.json": lambda b: json.loads(b)["object"] == "usage" and "requests" in json.loads(b)["totals"],
}
STATUS = {"admin-create-key.json": 201}
UPSTREAM_MODEL = {"text-embedding-3-small": "text-embedding-3-small", "dall-e-3": "dall-e-3"}
ADMIN_KEY = "sk-admin-" + "a1b2c3d4" * 5


def admin_key_parameter(dynamo_url: str, name: str, value: str = ADMIN_KEY) -> dict[str, str]:
    """The admin key as the template has it: an SSM SecureString (in the embedded moto, which serves
    SSM too), named by the parameter the stack passes on; boto3 pointed at it by AWS_ENDPOINT_URL_SSM."""
    ssm = boto3.client("ssm", endpoint_url=dynamo_url, region_name="us-east-1",
                       aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1])
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    return {"AWS_ENDPOINT_URL_SSM": dynamo_url}


@pytest.mark.parametrize("logical_id", [f for f in function_names(TEMPLATE) if f != "StoredResponsesFunction"])
def test_each_function_answers_its_events_in_one_process(logical_id, running, overrides, key, upstream_a,
                                                         dynamo_url) -> None:
    parameters, extra = {}, {}
    if logical_id == "AdminFunction":
        parameters = {"AdminKeySsmParameter": f"/apex-suite/{os.getpid()}/admin-key"}
        extra = admin_key_parameter(dynamo_url, parameters["AdminKeySsmParameter"])
    function = running(logical_id, {**overrides, **extra}, parameters)
    for name in BY_FUNCTION[logical_id]:
        upstream_a.received.clear()
        received = function.invoke(event(name, ADMIN_KEY if logical_id == "AdminFunction" else key))
        status, headers, body = relayed(received, function.function.streaming)
        assert status == STATUS.get(name, 200), (name, body)
        assert headers["x-request-id"], name
        stream = body.startswith((b"data:", b"event:"))
        assert headers["content-type"].startswith("text/event-stream" if stream else "application/json"), name
        assert CHECKS[name](body), (name, body[:500])
        if upstream_a.received and "model" in upstream_a.last.body:     # what the provider was asked
            asked = json.loads(event(name, key)["body"])["model"]
            assert upstream_a.last.body["model"] == UPSTREAM_MODEL.get(asked, "upstream-mini"), name
            assert key not in json.dumps(upstream_a.last.headers), name     # the client's key stays here
    function.polled(len(BY_FUNCTION[logical_id]) + 1)     # one process served them all, and waits for more
    assert function.process.poll() is None


def test_a_response_stored_by_one_function_is_read_and_deleted_by_another(running, overrides, key) -> None:
    created = running("ResponsesFunction", overrides).invoke(event("responses.json", key))
    response_id = json.loads(relayed(created, True)[2])["id"]
    reader = running("StoredResponsesFunction", overrides)

    def call(name: str) -> tuple[int, dict[str, Any]]:
        sample = event(name, key)
        sample_id = sample["pathParameters"]["response_id"]
        sample["path"] = sample["path"].replace(sample_id, response_id)
        sample["pathParameters"]["response_id"] = response_id
        status, _, body = relayed(reader.invoke(sample), False)
        return status, json.loads(body)

    status, stored = call("stored_responses.json")
    assert status == 200 and stored["output"][0]["content"][0]["text"] == ALPHA
    status, items = call("stored_responses-input-items.json")
    assert status == 200 and items["data"][0]["content"][0]["text"] == "Say hello in five words."
    assert call("stored_responses-delete.json")[0] == 200
    assert call("stored_responses.json")[0] == 404
    status, _, body = relayed(reader.invoke(event("stored_responses-websocket.json", key)), False)
    assert status == 426 and json.loads(body)["error"]["code"] == "websocket_not_supported"   # Codex's probe


# -- streaming as it happens -------------------------------------------------------------------------

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_the_first_chunk_reaches_lambda_before_the_upstream_sends_its_last(running, overrides, key,
                                                                          upstream_a) -> None:
    function = running("ChatFunction", overrides)
    gate = upstream_a.hold_after(2)
    received = function.send(event("chat-stream.json", key, CHAT))
    function._run(received.first(b"data: "))
    assert not gate.is_set() and not received.done.is_set()   # the upstream still holds the rest back
    gate.set()
    function.wait(received)
    assert sse_data(received.body)[-1] == "[DONE]"
    assert received.trailers == {} and received.stream_error is None


def test_a_broken_upstream_ends_in_an_error_event_and_the_error_trailers(running, overrides, key,
                                                                        upstream_a) -> None:
    function = running("ChatFunction", overrides)
    upstream_a.fail_next(1, "drop_after", after_chunks=2)
    received = function.invoke(event("chat-stream.json", key, CHAT))
    status, _, body = relayed(received, True)
    assert status == 200
    assert json.loads(sse_data(body)[-1])["error"]["code"] == "provider_error"
    assert received.stream_error is not None and received.stream_error["type"] == "Apex.provider_error"
    again = function.invoke(event("chat-stream.json", key, CHAT))    # the same process goes on
    assert sse_data(relayed(again, True)[2])[-1] == "[DONE]"


# -- what a function logs ----------------------------------------------------------------------------

def emf_lines(log: str) -> list[dict[str, Any]]:
    """The log's request lines: JSON objects that are CloudWatch metrics too (Embedded Metric Format)."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "apex.request"]


@pytest.mark.parametrize(("logical_id", "sample"), [("ChatFunction", "chat-stream.json"),
                                                    ("EmbeddingsFunction", "embeddings.json")])
def test_each_request_is_a_json_log_line_that_is_cloudwatch_metrics(logical_id, sample, running, overrides,
                                                                     key) -> None:
    function = running(logical_id, overrides)
    received = function.invoke(event(sample, key))
    assert relayed(received, function.function.streaming)[0] == 200
    function.polled(2)                       # the invocation ended, its line written
    [line] = emf_lines(function.log())
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "ApexGateway" and ["endpoint", "model", "provider"] in directive["Dimensions"]
    for metric in directive["Metrics"]:      # every metric named is a number in the line itself
        assert isinstance(line[metric["Name"]], int | float), metric
    for dimensions in directive["Dimensions"]:
        assert all(isinstance(line[d], str) for d in dimensions)
    assert line["requests"] == 1 and line["errors"] == 0 and line["provider"] == "local"
    assert line["prompt_tokens"] > 0 and line["latency_ms"] > 0 and key not in json.dumps(line)
    assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 60


# -- start-up failures and bad input --------------------------------------------------------------

@pytest.mark.parametrize("logical_id", ["ChatFunction", "ModelsFunction"])
def test_a_published_static_key_stops_the_function_at_init_with_the_reason(logical_id, running, overrides,
                                                                           tmp_path) -> None:
    config = Path(overrides["APEX_CONFIG"])
    config.write_text(config.read_text() + '\n[[keys]]\nkey = "sk-local-dev-key"\nplan = "pro"\n')
    function = running(logical_id, overrides)
    error = function.init_error()
    assert error["errorType"] == "ConfigError"
    assert "keys.0.key" in error["errorMessage"] and "published" in error["errorMessage"]
    assert function.process.wait(10) != 0


def test_an_admin_key_shorter_than_32_characters_stops_the_admin_function(running, overrides, dynamo_url) -> None:
    name = f"/apex-suite/{os.getpid()}/weak-admin-key"
    extra = admin_key_parameter(dynamo_url, name, "guessable-secret")
    function = running("AdminFunction", {**overrides, **extra}, {"AdminKeySsmParameter": name})
    error = function.init_error()
    assert error["errorType"] == "SecretsError" and "shorter than 32" in error["errorMessage"]
    assert "guessable-secret" not in error["errorMessage"] and "'gues'" in error["errorMessage"]  # its start only


@pytest.mark.parametrize("logical_id", ["ChatFunction", "ModelsFunction"])
def test_an_init_error_in_any_script_reaches_lambda(logical_id, running, overrides, tmp_path) -> None:
    """awslambdaric posts `init/error` as Latin-1: a reason quoting other text must still arrive."""
    config = tmp_path / "конфиг.toml"
    config.write_text("[gateway\n")
    error = running(logical_id, {**overrides, "APEX_CONFIG": str(config)}).init_error()
    assert error["errorType"] == "ConfigError"
    assert "not valid TOML" in error["errorMessage"] and ".toml" in error["errorMessage"]


NOT_HTTP = {"Records": [{"eventSource": "aws:sqs", "body": "hi"}]}


def at_path(sample: dict[str, Any], path: str) -> dict[str, Any]:
    """The event, sent to another path (a REST API or a Function URL event)."""
    for field in ("path", "resource", "rawPath"):
        if field in sample:
            sample[field] = path
    if "http" in sample.get("requestContext", {}):
        sample["requestContext"]["http"]["path"] = path
    return sample


@pytest.mark.parametrize("logical_id", ["ChatFunction", "ModelsFunction"])
def test_an_event_of_no_known_shape_or_an_unknown_route_is_answered_and_the_process_lives_on(
        logical_id, running, overrides, key) -> None:
    function = running(logical_id, overrides)
    streaming = function.function.streaming
    sample = BY_FUNCTION[logical_id][0]
    malformed = [{**event(sample, key), "headers": "not a map"},
                 {**event(sample, key), "body": "%%% not base64", "isBase64Encoded": True}]
    for bad in (NOT_HTTP, "just a string", *malformed):
        status, headers, body = relayed(function.invoke(bad), streaming)
        assert status == 400 and headers["content-type"] == "application/json", body
        assert json.loads(body)["error"]["code"] == "invalid_event"
    status, _, body = relayed(function.invoke(at_path(event(sample, key), "/v1/no/such/route")), streaming)
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    status, _, body = relayed(function.invoke(event(sample, key)), streaming)
    assert status == 200, body


def test_health_is_answered_without_a_key_by_the_deployed_route(running, overrides) -> None:
    sample = at_path(event("models.json", "unused"), "/health")
    sample["headers"] = sample["multiValueHeaders"] = {}
    assert function_of(sample) == "ModelsFunction"
    status, _, body = relayed(running("ModelsFunction", overrides).invoke(sample), False)
    assert status == 200 and json.loads(body) == {"status": "ok"}


# -- apex invoke ------------------------------------------------------------------------------------

def apex_invoke(overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APEX_"))}
    config = ["--config", overrides["APEX_CONFIG"]]
    return subprocess.run([APEX, "invoke", *args, *config], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)


def test_apex_invoke_prints_a_buffered_functions_lambda_result(overrides) -> None:
    result = apex_invoke(overrides, "ModelsFunction", "-e", "events/models.json")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["statusCode"] == 200
    assert json.loads(output["body"])["data"][0]["id"] == "gpt-4o-mini"
    assert "Unclosed" not in result.stderr, result.stderr


@pytest.mark.parametrize("build", [False, True], ids=["checkout", "build"])
def test_apex_invoke_prints_a_streaming_functions_prelude_then_its_stream(overrides, build, request) -> None:
    if build:
        request.getfixturevalue("lambda_build")
    result = apex_invoke(overrides, "ChatFunction", "-e", "events/chat-stream.json", *(["--build"] if build else []))
    assert result.returncode == 0, result.stderr
    prelude, _, stream = result.stdout.partition("\n")
    assert json.loads(prelude)["statusCode"] == 200
    assert sse_data(stream.encode())[-1] == "[DONE]"
    assert json.loads(sse_data(stream.encode())[-2])["usage"]["total_tokens"] > 0   # include_usage asked
    assert "Unclosed" not in result.stderr, result.stderr


def test_apex_invoke_streams_anthropic_events(overrides) -> None:
    result = apex_invoke(overrides, "MessagesFunction", "-e", "events/messages-stream.json")
    assert result.returncode == 0, result.stderr
    prelude, _, stream = result.stdout.partition("\n")
    assert json.loads(prelude)["statusCode"] == 200
    kinds = sse_kinds(stream.encode())
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"


def test_apex_invoke_fails_where_lambda_fails(overrides) -> None:
    config = Path(overrides["APEX_CONFIG"])
    config.write_text(config.read_text() + '\n[[keys]]\nkey = "sk-local-dev-key"\nplan = "pro"\n')
    result = apex_invoke(overrides, "ChatFunction", "-e", "events/chat.json")
    assert result.returncode == 1
    assert "init error: ConfigError" in result.stderr and "published" in result.stderr


def test_apex_invoke_names_the_functions_when_one_is_unknown(overrides) -> None:
    result = apex_invoke(overrides, "NoSuchFunction", "-e", "events/models.json")
    assert result.returncode == 1
    assert "ChatFunction" in result.stderr and "ModelsFunction" in result.stderr
    assert "Traceback" not in result.stderr


# Every sample event on a fresh machine: no config, no provider key (the demo provider answers), the
# admin key the admin events send. Stored responses are not found by design: each invocation has a
# store of its own.
BY_DESIGN = {"stored_responses.json": 404, "stored_responses-delete.json": 404,
             "stored_responses-input-items.json": 404, "stored_responses-websocket.json": 426}


@pytest.mark.parametrize("sample", EVENT_FILES)
def test_apex_invoke_answers_every_sample_event_with_nothing_set(sample: str) -> None:
    fresh = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "APEX_")) and not k.endswith("_API_KEY")}
    fresh["APEX_ADMIN_KEY"] = "admin-local-dev-key"
    function = function_of(json.loads((EVENTS / sample).read_text()))
    result = subprocess.run([APEX, "invoke", function, "-e", f"events/{sample}"], cwd=ROOT, env=fresh,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    try:
        status = json.loads(result.stdout)["statusCode"]                     # a buffered function's result
    except json.JSONDecodeError:
        status = json.loads(result.stdout.partition("\n")[0])["statusCode"]  # a stream's prelude
    assert status == BY_DESIGN.get(sample, 201 if sample == "admin-create-key.json" else 200), result.stdout[:500]
    assert "Traceback" not in result.stderr and "Unclosed" not in result.stderr, result.stderr
    if "[demo]" not in result.stdout and function in ("ChatFunction", "MessagesFunction", "ResponsesFunction"):
        assert sample == "messages-count-tokens.json", result.stdout[:500]
