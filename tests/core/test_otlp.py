"""The hand-made OTLP encodings read back by opentelemetry-proto's own classes, field for field."""

from __future__ import annotations

import json

from google.protobuf.json_format import Parse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from core.otlp import CLIENT, ERROR, SERVER, UNSET, Encoder, Span, Static

SPANS = [
    Span(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"), bytes.fromhex("00f067aa0ba902b7"), b"",
         1_796_000_000_000_000_000, 1_796_000_000_412_000_000,
         Static("POST /v1/chat/completions", SERVER,
                (("gen_ai.request.model", "gpt-4o-mini"), ("name", "ünïcode ✓"), ("x" * 200, "long key"),
                 ("gen_ai.response.model", ""), ("gen_ai.operation.name", None)), UNSET),
         (("http.response.status_code", 200), ("apex.cost_usd", 0.0000279), ("apex.cache_hit", False),
          ("gen_ai.usage.input_tokens", 2**40), ("small", 7), ("request", "req_1"), ("long", "ü" * 100))),
    Span(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"), bytes.fromhex("a1b2c3d4e5f60718"),
         bytes.fromhex("00f067aa0ba902b7"), 1_796_000_000_001_000_000, 1_796_000_000_031_000_000,
         Static("chat gpt-4o-mini", CLIENT, (("error.type", "error 500"),), ERROR), (("neg", -3),)),
    Span(bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"), bytes.fromhex("b1b2c3d4e5f60718"),
         bytes.fromhex("00f067aa0ba902b7"), 1_796_000_000_001_000_000, 1_796_000_000_031_000_000,
         Static("chat m", CLIENT, (), UNSET), ()),
]


def decoded(request: ExportTraceServiceRequest) -> list[dict]:
    [resource] = request.resource_spans
    [scope] = resource.scope_spans
    assert scope.scope.name == "apex-gateway"
    assert {kv.key: kv.value.string_value for kv in resource.resource.attributes} == {"service.name": "svc"}
    out = []
    for span in scope.spans:
        values = {}
        for kv in span.attributes:
            kind = kv.value.WhichOneof("value")
            values[kv.key] = getattr(kv.value, kind)
        out.append({"trace": span.trace_id.hex(), "span": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                    "name": span.name, "kind": span.kind, "start": span.start_time_unix_nano,
                    "end": span.end_time_unix_nano, "attributes": values, "status": span.status.code})
    return out


def expected() -> list[dict]:
    return [{"trace": s.trace_id.hex(), "span": s.span_id.hex(), "parent": s.parent_id.hex(),
             "name": s.static.name, "kind": s.static.kind, "start": s.start_ns, "end": s.end_ns,
             "attributes": {**{k: v for k, v in s.static.attributes if v not in (None, "")}, **dict(s.attributes)},
             "status": s.static.status} for s in SPANS]


def test_protobuf_reads_back_field_for_field_twice_over_the_memo() -> None:
    encoder = Encoder({"service.name": "svc"})
    for _ in range(2):                  # the second time, attributes come from the memo
        request = ExportTraceServiceRequest()
        request.ParseFromString(encoder.request(encoder.span(span) for span in SPANS))
        assert decoded(request) == expected()


def test_json_reads_back_the_same() -> None:
    request = Parse(json.dumps(json.loads(Encoder({"service.name": "svc"}).json(SPANS))), ExportTraceServiceRequest())
    # OTLP/JSON ids are hex; protobuf's JSON parser reads bytes as base64, so the ids are compared apart
    spans = json.loads(Encoder({"service.name": "svc"}).json(SPANS))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [(s["traceId"], s["spanId"], s["parentSpanId"]) for s in spans] == [
        (s.trace_id.hex(), s.span_id.hex(), s.parent_id.hex()) for s in SPANS]
    assert [{k: v for k, v in d.items() if k not in ("trace", "span", "parent")} for d in decoded(request)] == [
        {k: v for k, v in d.items() if k not in ("trace", "span", "parent")} for d in expected()]
