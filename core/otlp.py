"""OTLP's trace export request, encoded by hand: in protobuf (OTLP/HTTP's default) or JSON.

The generated protobuf classes took ~26 µs a span, more than the request the span describes; these
few field writers take a few, and the attributes most spans share — the method, the route, the
models, the provider — are encoded once and reused. The field numbers are opentelemetry-proto's
(`trace/v1/trace.proto`, `common/v1/common.proto`); a test decodes the bytes with its classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

SERVER, CLIENT = 2, 3                   # SpanKind, as OTLP numbers them
UNSET, ERROR = 0, 2                     # StatusCode
SCOPE = "apex-gateway"
MEMO = 4096                             # shared attribute blocks kept for reuse, at most
KINDS = {SERVER: b"\x30\x02", CLIENT: b"\x30\x03"}     # field 6, kind
TIMES = struct.Struct("<BQBQ")                          # fields 7 and 8, start and end (fixed64 each)
DOUBLE = struct.Struct("<Bd")                           # AnyValue.double_value, field 4


class Span(NamedTuple):
    trace_id: bytes         # 16 bytes
    span_id: bytes          # 8
    parent_id: bytes        # 8, or empty for a root
    name: str
    kind: int
    start_ns: int
    end_ns: int
    shared: tuple[tuple[str, Any], ...]     # attributes many spans have alike (None: left out), encoded once
    attributes: dict[str, Any]              # the span's own (its request id, its token counts)
    status: int


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, messages); most are short, and take two bytes of head."""
    size = len(payload)
    if size < 0x80 and number < 16:
        return bytes((number << 3 | 2, size)) + payload
    return _varint(number << 3 | 2) + _varint(size) + payload


def _any_value(value: Any) -> bytes:
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")                     # bool_value = 2
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)                 # int_value = 3 (int64)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)                            # double_value = 4
    return _field(1, str(value).encode())                                   # string_value = 1


class Encoder:
    """Export requests for one resource: in protobuf, each span encoded as it ends (`span`) and a batch
    put together (`request`); or in JSON (`json`)."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self._memo: dict[tuple[Any, ...], bytes] = {}
        self._keys: dict[str, bytes] = {}          # an attribute key's own field: the conventions' few names
        self._resource = _field(1, b"".join(_field(1, self._attribute(k, v)) for k, v in resource.items()))
        self._scope = _field(1, _field(1, SCOPE.encode()))
        self._resource_attributes = dict(resource)

    def _attribute(self, key: str, value: Any) -> bytes:
        """A KeyValue's bytes (untagged: a span's field 9 and a resource's field 1 both repeat it)."""
        head = self._keys.get(key)
        if head is None:
            head = self._keys[key] = _field(1, key.encode())
        return head + _field(2, _any_value(value))

    def _static(self, span: Span) -> bytes:
        """What a span shares with many others — its name, kind, shared attributes (those with a
        value) and status — encoded once for all of them (the same route, models, provider, key)."""
        key = (span.name, span.kind, span.shared, span.status)
        known = self._memo.get(key)
        if known is None:
            if len(self._memo) >= MEMO:
                self._memo.clear()
            parts = [_field(5, span.name.encode()), KINDS[span.kind]]
            parts += [_field(9, self._attribute(k, v)) for k, v in span.shared if v is not None and v != ""]
            if span.status:
                parts.append(_field(15, b"\x18" + _varint(span.status)))        # Status.code = 3
            known = self._memo[key] = b"".join(parts)
        return known

    def _own(self, key: str, value: Any) -> bytes:
        """A span's own attribute, tagged as its field 9: the key's bytes kept, the value's made —
        inline for the short strings, integers and floats a span has (a request's id, its counts)."""
        head = self._keys.get(key)
        if head is None:
            head = self._keys[key] = _field(1, key.encode())
        kind = type(value)
        if kind is int and value >= 0:
            any_value = b"\x18" + _varint(value)
        elif kind is float:
            any_value = DOUBLE.pack(0x21, value)
        elif kind is str and len(value) < 0x7F:
            data = value.encode()
            any_value = bytes((0x0A, len(data))) + data if len(data) < 0x80 else _field(1, data)
        else:
            any_value = _any_value(value)
        kv = head + bytes((0x12, len(any_value))) + any_value if len(any_value) < 0x80 else head + _field(2, any_value)
        return bytes((0x4A, len(kv))) + kv if len(kv) < 0x80 else _field(9, kv)

    def _span(self, span: Span) -> bytes:
        parts = [b"\x0a\x10", span.trace_id, b"\x12\x08", span.span_id]
        if span.parent_id:
            parts += [b"\x22\x08", span.parent_id]
        parts += [TIMES.pack(0x39, span.start_ns, 0x41, span.end_ns), self._static(span)]
        own = self._own
        parts += [own(key, value) for key, value in span.attributes.items()]
        return b"".join(parts)

    def span(self, span: Span) -> bytes:
        """One span, encoded as a ScopeSpans' field 2: `request` puts these together."""
        return _field(2, self._span(span))

    def request(self, spans: Iterable[bytes]) -> bytes:
        """An ExportTraceServiceRequest of spans `span` encoded: one ResourceSpans, one ScopeSpans."""
        return _field(1, self._resource + _field(2, self._scope + b"".join(spans)))

    def json(self, spans: Sequence[Span]) -> bytes:
        """The same request in OTLP/JSON (ids in hex, 64-bit integers as strings)."""
        return orjson.dumps({"resourceSpans": [{
            "resource": {"attributes": _json_attributes(self._resource_attributes)},
            "scopeSpans": [{"scope": {"name": SCOPE}, "spans": [
                {"traceId": s.trace_id.hex(), "spanId": s.span_id.hex(), "parentSpanId": s.parent_id.hex(),
                 "name": s.name,
                 "kind": s.kind, "startTimeUnixNano": str(s.start_ns), "endTimeUnixNano": str(s.end_ns),
                 "attributes": _json_attributes({**{k: v for k, v in s.shared if v is not None and v != ""},
                                                 **s.attributes}), "status": {"code": s.status}}
                for s in spans]}]}]})


def _json_attributes(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        return {"stringValue": str(v)}

    return [{"key": k, "value": value(v)} for k, v in values.items()]
