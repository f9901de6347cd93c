"""OTLP's trace export request, encoded by hand: in protobuf (OTLP/HTTP's default) or JSON.

The generated protobuf classes took ~26 µs a span, more than the request the span describes. Here
what most spans share — name, kind, the attributes naming the route, models and provider, status —
is a `Static` the tracer makes once for each distinct set and this encodes once; a span adds its ids
and times in one struct pack, and its own few attributes (~1 µs a span in all). The field numbers
are opentelemetry-proto's (`trace/v1/trace.proto`, `common/v1/common.proto`); a test decodes the
bytes with its classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson

SERVER, CLIENT = 2, 3                   # SpanKind, as OTLP numbers them
UNSET, ERROR = 0, 2                     # StatusCode
SCOPE = "apex-gateway"
MEMO = 4096                             # static parts kept, encoded, for reuse, at most
KINDS = {SERVER: b"\x30\x02", CLIENT: b"\x30\x03"}     # field 6, kind
# Fields 1 and 2 (trace and span id), 7 and 8 (start and end, fixed64); with a parent, 4 between.
ROOT = struct.Struct("<2s16s2s8sBQBQ")
CHILD = struct.Struct("<2s16s2s8s2s8sBQBQ")
FLOAT = struct.Struct("<d")                             # AnyValue.double_value's fixed64


class Static(NamedTuple):
    """What a span has alike with many others, made once by the tracer for each distinct set (the
    same route, models, provider, key, outcome) and encoded once for all its spans."""

    name: str
    kind: int
    attributes: tuple[tuple[str, Any], ...]     # those with no value (None, "") are left out
    status: int


class Span(NamedTuple):
    trace_id: bytes         # 16 bytes
    span_id: bytes          # 8
    parent_id: bytes        # 8, or empty for a root
    start_ns: int
    end_ns: int
    static: Static
    attributes: tuple[tuple[str, Any], ...]     # the span's own (its request id, its token counts)


SMALL = [bytes((i,)) for i in range(0x80)]     # the varints of one byte


def _varint(value: int) -> bytes:
    if value < 0x80:
        return SMALL[value]
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
        return b"\x21" + FLOAT.pack(value)                                   # double_value = 4
    return _field(1, str(value).encode())                                   # string_value = 1


class Encoder:
    """Export requests for one resource: in protobuf, each span encoded as it ends (`span`) and a batch
    put together (`request`); or in JSON (`json`)."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self._memo: dict[int, tuple[Static, bytes]] = {}      # by the Static's id, the Static kept alive
        self._keys: dict[str, bytes] = {}          # an attribute key's own field: the conventions' few names
        self._prefixes: dict[tuple[str, type, int], bytes] = {}     # an own attribute's bytes before its value
        self._resource = _field(1, b"".join(_field(1, self._attribute(k, v)) for k, v in resource.items()))
        self._scope = _field(1, _field(1, SCOPE.encode()))
        self._resource_attributes = dict(resource)

    def _key(self, key: str) -> bytes:
        """A KeyValue's key field: the conventions' few names, each encoded once."""
        head = self._keys.get(key)
        if head is None:
            head = self._keys[key] = _field(1, key.encode())
        return head

    def _attribute(self, key: str, value: Any) -> bytes:
        """A KeyValue's bytes (untagged: a span's field 9 and a resource's field 1 both repeat it)."""
        return self._key(key) + _field(2, _any_value(value))

    def _static(self, static: Static) -> bytes:
        """A Static's fields, encoded the first time it is met; by identity after that (a tuple's
        hash is not kept, and these are the tracer's own few objects)."""
        known = self._memo.get(id(static))
        if known is not None and known[0] is static:
            return known[1]
        if len(self._memo) >= MEMO:
            self._memo.clear()
        parts = [_field(5, static.name.encode()), KINDS[static.kind]]
        parts += [_field(9, self._attribute(k, v)) for k, v in static.attributes if v is not None and v != ""]
        if static.status:
            parts.append(_field(15, b"\x18" + _varint(static.status)))        # Status.code = 3
        encoded = b"".join(parts)
        self._memo[id(static)] = (static, encoded)
        return encoded

    def _own(self, key: str, value: Any) -> bytes:
        """A span's own attribute, tagged as its field 9: the value's bytes after a prefix made once
        for each key, kind and length (a request id, a token count, a cost: 0.1 µs, not 0.6)."""
        kind = type(value)
        if kind is str:
            data = value.encode()
        elif kind is int and 0 <= value < 1 << 63:
            data = _varint(value)
        elif kind is float:
            data = FLOAT.pack(value)
        else:
            return _field(9, self._attribute(key, value))
        prefix = self._prefixes.get((key, kind, len(data)))
        if prefix is None:
            if len(self._prefixes) >= MEMO:
                self._prefixes.clear()
            # AnyValue: string_value (1, with its length), int_value (3) or double_value (4, fixed64)
            value_head = b"\x0a" + _varint(len(data)) if kind is str else b"\x18" if kind is int else b"\x21"
            key_value = self._key(key) + b"\x12" + _varint(len(value_head) + len(data)) + value_head
            prefix = self._prefixes[(key, kind, len(data))] = b"\x4a" + _varint(len(key_value) + len(data)) + key_value
        return prefix + data

    def span(self, span: Span) -> bytes:
        """One span, encoded as a ScopeSpans' field 2: `request` puts these together. Its own
        attributes come after the static part's status: fields may come in any order, and a
        repeated one's items keep theirs."""
        trace_id, span_id, parent_id, start_ns, end_ns, static, attributes = span
        if parent_id:
            body = CHILD.pack(b"\x0a\x10", trace_id, b"\x12\x08", span_id, b"\x22\x08", parent_id, 0x39, start_ns, 0x41,
                              end_ns) + self._static(static)
        else:
            body = ROOT.pack(b"\x0a\x10", trace_id, b"\x12\x08", span_id, 0x39, start_ns, 0x41,
                             end_ns) + self._static(static)
        if attributes:
            own = self._own
            body += b"".join([own(key, value) for key, value in attributes])
        size = len(body)
        return (bytes((0x12, size)) if size < 0x80 else b"\x12" + _varint(size)) + body

    def request(self, spans: Iterable[bytes]) -> bytes:
        """An ExportTraceServiceRequest of spans `span` encoded: one ResourceSpans, one ScopeSpans."""
        return _field(1, self._resource + _field(2, self._scope + b"".join(spans)))

    def json(self, spans: Sequence[Span]) -> bytes:
        """The same request in OTLP/JSON (ids in hex, 64-bit integers as strings)."""
        return orjson.dumps({"resourceSpans": [{
            "resource": {"attributes": _json_attributes(self._resource_attributes)},
            "scopeSpans": [{"scope": {"name": SCOPE}, "spans": [
                {"traceId": s.trace_id.hex(), "spanId": s.span_id.hex(), "parentSpanId": s.parent_id.hex(),
                 "name": s.static.name, "kind": s.static.kind, "startTimeUnixNano": str(s.start_ns),
                 "endTimeUnixNano": str(s.end_ns),
                 "attributes": _json_attributes({**{k: v for k, v in s.static.attributes if v is not None and v != ""},
                                                 **dict(s.attributes)}), "status": {"code": s.static.status}}
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
