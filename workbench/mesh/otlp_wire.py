"""OTLP's protobuf wire format for finished spans, written out directly for speed.

The exporter's own encoder builds a protobuf object per span, attribute and value: about
three times the work of writing the bytes, and most of what tracing costs a turn. This
writes the same `ExportTraceServiceRequest` (opentelemetry-proto's trace.proto; the tests
decode it with opentelemetry-proto), and keeps the bytes of attributes that repeat across
a run's spans (operation names, models, agents, the session id).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_pack_d = struct.Struct("<d").pack
_pack_q = struct.Struct("<Q").pack
#: trace.proto's Span.SpanKind by the SDK's SpanKind value (INTERNAL is 0 there, 1 here).
_KINDS = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}
#: Span.flags: the parent's is_remote is known (and false: every parent is in this process).
_FLAGS_LOCAL = 0x100
_MAX_CACHED = 8192


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (strings, bytes, embedded messages)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _any(value: Any) -> bytes:
    """An AnyValue message."""
    if isinstance(value, str):
        return _field(1, value.encode("utf-8", "replace"))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64, two's complement
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)
    if isinstance(value, list | tuple):
        return _field(5, b"".join(_field(1, _any(v)) for v in value))
    if isinstance(value, bytes):
        return _field(7, value)
    return _field(1, str(value).encode("utf-8", "replace"))


class Encoder:
    """Encodes batches of finished spans (the SDK's ReadableSpan); one per exporter, used
    from its export thread only."""

    def __init__(self) -> None:
        self._kvs: dict[tuple[str, Any, type], bytes] = {}
        #: By the ids of a resource and a scope: their bytes, and the two (kept alive, so
        #: that their ids are not reused while cached).
        self._headers: dict[tuple[int, int], tuple[bytes, bytes, Any, Any]] = {}

    def _kv(self, key: str, value: Any) -> bytes:
        """A KeyValue message, from the cache when this pair was seen before."""
        hashable = tuple(value) if isinstance(value, list) else value
        cache_key = (key, hashable, type(value))
        try:
            return self._kvs[cache_key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: encoded every time
            return _field(1, key.encode()) + _field(2, _any(value))
        if len(self._kvs) > _MAX_CACHED:
            self._kvs.clear()
        encoded = self._kvs[cache_key] = _field(1, key.encode()) + _field(2, _any(value))
        return encoded

    def _attributes(self, number: int, attrs: Mapping[str, Any] | None) -> bytes:
        if not attrs:
            return b""
        kv = self._kv
        return b"".join(_field(number, kv(k, v)) for k, v in attrs.items() if v is not None)

    def _span(self, span: Any) -> bytes:
        ctx = span.context
        parts = [_field(1, ctx.trace_id.to_bytes(16, "big")),
                 _field(2, ctx.span_id.to_bytes(8, "big"))]
        parent = span.parent
        if parent is not None:
            parts.append(_field(4, parent.span_id.to_bytes(8, "big")))
        parts.append(_field(5, span.name.encode("utf-8", "replace")))
        parts.append(b"\x30" + _varint(_KINDS.get(span.kind.value, 0)))
        parts.append(b"\x39" + _pack_q(span.start_time or 0))
        parts.append(b"\x41" + _pack_q(span.end_time or 0))
        parts.append(self._attributes(9, span.attributes))
        for event in span.events:
            parts.append(_field(11, b"\x09" + _pack_q(event.timestamp)
                                + _field(2, event.name.encode("utf-8", "replace"))
                                + self._attributes(3, event.attributes)))
        status = span.status
        code = status.status_code.value if status is not None else 0
        if code:
            message = _field(2, status.description.encode("utf-8", "replace")) \
                if status.description else b""
            parts.append(_field(15, message + b"\x18" + _varint(code)))
        else:
            parts.append(b"\x7a\x00")  # an empty Status, as the SDK writes one
        parts.append(b"\x85\x01" + struct.pack("<I", _FLAGS_LOCAL))  # field 16, fixed32
        return _field(2, b"".join(parts))  # as one of ScopeSpans.spans

    def _header(self, resource: Any, scope: Any) -> tuple[bytes, bytes]:
        """The encoded Resource and InstrumentationScope, once per pair."""
        key = (id(resource), id(scope))
        cached = self._headers.get(key)
        if cached is None:
            res = _field(1, self._attributes(1, resource.attributes)) if resource else b""
            sc = b""
            if scope is not None:
                sc = _field(1, scope.name.encode()) + (
                    _field(2, scope.version.encode()) if scope.version else b"")
            cached = self._headers[key] = (res, _field(1, sc), resource, scope)
        return cached[0], cached[1]

    def encode(self, spans: Sequence[Any]) -> bytes:
        """An ExportTraceServiceRequest holding `spans`, grouped by resource and scope."""
        groups: dict[tuple[int, int], list[Any]] = {}
        owners: dict[tuple[int, int], tuple[Any, Any]] = {}
        for span in spans:
            scope = span.instrumentation_scope
            key = (id(span.resource), id(scope))
            groups.setdefault(key, []).append(span)
            owners[key] = (span.resource, scope)
        out = []
        for key, members in groups.items():
            resource, scope = owners[key]
            res, scope_bytes = self._header(resource, scope)
            scope_spans = _field(2, scope_bytes + b"".join(self._span(s) for s in members))
            schema = _field(3, resource.schema_url.encode()) if resource and \
                resource.schema_url else b""
            out.append(_field(1, res + scope_spans + schema))
        return b"".join(out)


def encode_spans(spans: Iterable[Any]) -> bytes:
    """One-off encoding (tests); exporters keep an `Encoder` for its caches."""
    return Encoder().encode(list(spans))
