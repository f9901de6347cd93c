"""What an operator sees of each request, from `apex serve` run as a user runs it: one JSON log line a
request (fallbacks, 4xx and forged names included), Prometheus metrics at /metrics behind the admin
key, OpenTelemetry spans sent to a local OTLP sink with the client's trace continued upstream, and
each answer's cost in X-Apex-Cost or a stream's `_cost`."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from core.usage import usage_between
from tests.fakes.openai import FakeOpenAI
from tests.processes import APEX, ENV, Output
from tests.support import TEST_KEY, config, run_gateway

KEY = "sk-observed-0123456789abcdef"
ADMIN = "admin-observed-0123456789"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
PRICE_IN, PRICE_OUT = 2.0, 8.0       # USD per 1M tokens


class Sink:
    """An OTLP/HTTP collector on loopback: every span it is sent, decoded."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                sink.spans += [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def wait_for(self, count: int, timeout: float = 15) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        values[kv.key] = getattr(kv.value, kind)
    return values


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Output, Sink, FakeOpenAI, FakeOpenAI]]:
    sink, broken, healthy = Sink(), FakeOpenAI("broken"), FakeOpenAI("healthy")
    with broken, healthy:
        config = Path(tmp_path_factory.mktemp("observed")) / "apex.toml"
        config.write_text(f"""
[providers.broken]
base_url = "{broken.base_url}"
[providers.healthy]
base_url = "{healthy.base_url}"

[models.sturdy]
price = {{ input = {PRICE_IN}, output = {PRICE_OUT} }}
routes = [{{ provider = "broken", model = "b-1" }}, {{ provider = "healthy", model = "h-1" }}]

[[keys]]
key = "{KEY}"
plan = "unlimited"
""")
        env = {**ENV, "APEX_ADMIN_KEY": ADMIN, "APEX_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
               "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_SERVICE_NAME": "apex-under-test"}
        process = subprocess.Popen([APEX, "serve", "--port", "0", "--config", str(config)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        url = Output(process).until(r"on (http://\S+)/v1").group(1)       # the banner, on stdout
        try:
            yield url, Output(process, stderr=True), sink, broken, healthy     # the log, on stderr
        finally:
            process.terminate()
            process.wait(15)
            sink.server.shutdown()


def request_lines(output: Output, *answers: httpx.Response) -> list[dict[str, Any]]:
    """The log's request lines of these answers, by their request ids (every line must be JSON)."""
    wanted = {answer.headers["x-request-id"]: i for i, answer in enumerate(answers)}
    found: dict[int, dict[str, Any]] = {}
    while len(found) < len(wanted):
        line = output.lines.get(timeout=15)
        assert line is not None, "the log ended"
        record = json.loads(line)
        if record["logger"] == "apex.request" and record["request_id"] in wanted:
            found[wanted[record["request_id"]]] = record
    return [found[i] for i in range(len(answers))]


def chat(url: str, key: str = KEY, model: str = "sturdy", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}", **(headers or {})},
                      json={"model": model, "messages": [{"role": "user", "content": "two words"}]}, timeout=15)


def test_a_fallback_is_one_log_line_with_its_attempts_cost_and_trace(observed) -> None:
    url, output, sink, broken, healthy = observed
    broken.fail_next(1, "500")
    answer = chat(url, headers={"traceparent": f"00-{TRACE_ID}-{CLIENT_SPAN}-01"})
    assert answer.status_code == 200
    usage = answer.json()["usage"]
    cost = (usage["prompt_tokens"] * PRICE_IN + usage["completion_tokens"] * PRICE_OUT) / 1e6
    assert float(answer.headers["x-apex-cost"]) == pytest.approx(cost)

    [line] = request_lines(output, answer)
    assert line["message"] == "POST /v1/chat/completions 200" and line["level"] == "info"
    assert (line["request_id"], line["status"], line["model"], line["served"], line["provider"]) == (
        answer.headers["x-request-id"], 200, "sturdy", "h-1", "healthy")
    assert [(a["provider"], a["model"], a["outcome"]) for a in line["attempts"]] == [
        ("broken", "b-1", "error 500"), ("healthy", "h-1", "ok")]
    assert line["key"].startswith("sk-obser") and KEY not in json.dumps(line)
    assert (line["prompt_tokens"], line["completion_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert line["cost"] == pytest.approx(cost) and line["cache"] == "miss"
    assert 0 < line["ttfb_ms"] <= line["latency_ms"]

    # the client's trace, continued: our server span under its span, and upstream told of it
    assert [r.headers["traceparent"].split("-")[1] for r in (broken.last, healthy.last)] == [TRACE_ID] * 2
    spans = sink.wait_for(3)
    server = next(s for s in spans if s.kind == 2)                  # SPAN_KIND_SERVER
    assert (server.trace_id.hex(), server.parent_span_id.hex()) == (TRACE_ID, CLIENT_SPAN)
    assert healthy.last.headers["traceparent"].split("-")[2] == server.span_id.hex()
    facts = attributes(server)
    assert (facts["gen_ai.operation.name"], facts["gen_ai.request.model"], facts["gen_ai.response.model"],
            facts["gen_ai.provider.name"]) == ("chat", "sturdy", "h-1", "healthy")
    assert (facts["gen_ai.usage.input_tokens"], facts["gen_ai.usage.output_tokens"]) == (
        usage["prompt_tokens"], usage["completion_tokens"])
    assert facts["apex.request_id"] == answer.headers["x-request-id"] and facts["http.response.status_code"] == 200
    clients = sorted((s for s in spans if s.kind == 3), key=lambda s: s.start_time_unix_nano)   # SPAN_KIND_CLIENT
    assert [attributes(s)["gen_ai.request.model"] for s in clients] == ["b-1", "h-1"]
    assert all(s.parent_span_id == server.span_id and s.trace_id == server.trace_id for s in clients)
    assert attributes(clients[0])["error.type"] == "error 500"
    assert attributes(clients[1])["server.address"] == "127.0.0.1"
    assert not any("two words" in str(attributes(s)) for s in spans)          # no prompt text leaves


def test_a_stream_says_its_cost_in_its_final_usage_chunk(observed) -> None:
    url, output, *_ = observed
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, timeout=15,
                      json={"model": "sturdy", "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": "user", "content": "two words"}]}) as answer:
        assert "x-apex-cost" not in answer.headers
        streamed = answer
        events = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]
    usage = events[-1]["usage"]
    assert events[-1]["_cost"] == pytest.approx((usage["prompt_tokens"] * PRICE_IN
                                                 + usage["completion_tokens"] * PRICE_OUT) / 1e6)
    assert not any("_cost" in e for e in events[:-1])
    [line] = request_lines(output, streamed)
    assert line["cost"] == pytest.approx(events[-1]["_cost"]) and line["ttfb_ms"] < line["latency_ms"]


def test_refusals_are_logged_too_and_a_forged_name_stays_on_its_line(observed) -> None:
    url, output, *_ = observed
    refused, unknown = chat(url, key="sk-wrong-0123456789"), chat(url, model='nope"}\n{"forged": true')
    assert (refused.status_code, unknown.status_code) == (401, 404)
    wrong_key, forged = request_lines(output, refused, unknown)
    assert (wrong_key["status"], wrong_key["key"], wrong_key["attempts"]) == (401, None, [])
    assert (forged["status"], forged["model"], forged["asked"]) == (404, "rejected", 'nope"}\n{"forged": true')


def test_metrics_behind_the_admin_key(observed) -> None:
    url, output, _, broken, _ = observed
    broken.fail_next(1, "500")
    served, unknown = chat(url), chat(url, model="no-such-model")
    assert (served.status_code, unknown.status_code) == (200, 404)
    request_lines(output, served, unknown)
    assert httpx.get(f"{url}/metrics").status_code == 401
    scraped = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {ADMIN}"})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = scraped.text
    assert 'apex_requests_total{endpoint="/v1/chat/completions",model="sturdy",provider="healthy",status="200"}' in text
    assert 'apex_upstream_attempts_total{provider="broken",upstream_model="b-1",outcome="error 500"}' in text
    assert ('apex_request_errors_total{endpoint="/v1/chat/completions",model="rejected",provider="",status="404"}'
            in text)
    assert 'apex_circuit_state{provider="healthy",upstream_model="h-1"} 0' in text
    assert 'apex_time_to_first_byte_seconds_bucket{endpoint="/v1/chat/completions",model="sturdy"' in text
    assert "apex_cost_usd_total" in text and 'kind="completion"' in text


def sse_events(url: str, path: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], ""
    with httpx.stream("POST", f"{url}{path}", headers={"authorization": f"Bearer {KEY}",
                                                       "anthropic-version": "2023-06-01"}, json=body,
                      timeout=15) as answer:
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: {"):
                events.append((name, json.loads(line[6:])))
    return events


def test_messages_and_responses_streams_say_their_cost_in_their_last_usage_event(observed) -> None:
    url, *_ = observed
    messages = sse_events(url, "/v1/messages", {"model": "sturdy", "max_tokens": 50, "stream": True,
                                                "messages": [{"role": "user", "content": "two words"}]})
    delta = next(data for name, data in messages if name == "message_delta")
    billed = delta["usage"]          # the upstream's own figures (message_start's input count is an estimate)
    assert delta["_cost"] == pytest.approx((billed["input_tokens"] * PRICE_IN + billed["output_tokens"] * PRICE_OUT)
                                           / 1e6)
    assert [name for name, data in messages if "_cost" in data] == ["message_delta"]
    responses = sse_events(url, "/v1/responses", {"model": "sturdy", "input": "two words", "stream": True})
    kind, completed = responses[-1]
    assert kind == "response.completed" and "_cost" not in completed["response"]
    usage = completed["response"]["usage"]
    assert completed["_cost"] == pytest.approx((usage["input_tokens"] * PRICE_IN
                                                + usage["output_tokens"] * PRICE_OUT) / 1e6)


def test_a_gateway_that_keeps_costs_to_itself(upstream_a: FakeOpenAI, dynamo_url: str) -> None:
    """`expose_cost = false`: no answer tells its cost (an operator reselling at its own prices),
    while usage still counts it."""
    cfg = config({"alpha": upstream_a.base_url},
                 {"sturdy": {"price": {"input": PRICE_IN, "output": PRICE_OUT},
                             "routes": [{"provider": "alpha", "model": "a-1"}]}},
                 gateway={"expose_cost": False})
    with run_gateway(cfg, dynamo_url) as running:
        buffered = chat(running.url, key=TEST_KEY)
        assert buffered.status_code == 200 and "x-apex-cost" not in buffered.headers
        with httpx.stream("POST", f"{running.url}/v1/chat/completions", headers={"authorization": f"Bearer {TEST_KEY}"},
                          json={"model": "sturdy", "stream": True, "stream_options": {"include_usage": True},
                                "messages": [{"role": "user", "content": "two words"}]}, timeout=15) as answer:
            chunks = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]
        assert chunks[-1]["usage"]["completion_tokens"] > 0 and not any("_cost" in c for c in chunks)
        headers = {"authorization": f"Bearer {TEST_KEY}", "anthropic-version": "2023-06-01"}
        with httpx.stream("POST", f"{running.url}/v1/messages", headers=headers, timeout=15,
                          json={"model": "sturdy", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "two words"}]}) as answer:
            events = [json.loads(line[6:]) for line in answer.iter_lines() if line.startswith("data: {")]
        assert any(e["type"] == "message_delta" for e in events) and not any("_cost" in e for e in events)
        gw = running.local.gateway
        assert gw.usage is not None and gw.db is not None
        running.call(gw.usage.flush())
        today = time.strftime("%Y-%m-%d", time.gmtime())
        records = running.call(usage_between(gw.db, None, today, today))
        counted = [r for r in records if r.model == "sturdy"]
        assert len(counted) == 3 and all(r.cost > 0 for r in counted)
        assert buffered.headers["x-request-id"] in {r.request_id for r in counted}
