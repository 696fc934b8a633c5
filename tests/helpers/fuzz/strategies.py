"""Hypothesis strategies that build any protobuf message from its descriptor: valid-shaped values and
hostile ones (huge or odd strings, extreme numbers, out-of-range Timestamps, NaN in Struct, real ids
and tokens of objects the caller does not own)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

# Timestamp's valid range is 0001-01-01 .. 9999-12-31; Duration's is ±10,000 years; nanos 0..999,999,999.
TIMESTAMP_SECONDS = (-62135596800, 253402300799)
DURATION_SECONDS = 315576000000
ODD_SECONDS = (0, -1, 1, 2**31 - 1, -(2**31), *INT64, *TIMESTAMP_SECONDS, TIMESTAMP_SECONDS[1] + 1, 10**12)
ODD_NANOS = (0, -1, 999_999_999, 10**9, -(10**9), *INT32)

HOSTILE_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\r\n\t\x1b[31m\x7f",
    "".join(chr(c) for c in range(1, 32)),
    "\u202e\u200b\ufeff\u2028\u2029",  # bidi override, zero width, BOM, line/paragraph separators
    "\ufffd\uffff\ufffe\U0010ffff\U0001f600",  # replacement char, noncharacters, last code point, emoji
    "e\u0301" * 50,  # combining marks
    "\U0001f469\u200d\U0001f4bb" * 20,
    "A" * 101,
    "a" * 201,
    "x" * 100_000,
    "\u00e9" * 50_000,  # 100 KB of two-byte UTF-8
    "' OR '1'='1",
    "%",
    "%25%2F..%2F",
    "../../../../etc/passwd",
    "/",
    "*",
    "{}",
    "null",
    "-1",
    "9" * 40,
    "1e309",
    "NaN",
    "http://127.0.0.1:1/x",
    "grpc://127.0.0.1:1",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "acme",
    "ACME",
    "vnd_",
    "run_",
    "dep_",
    "tok_",
)
LONG_LIST = 100
SMALL_INTS = (0, 1, 2, 3, -1, 50, 500, 501)

_WELL_KNOWN_TIMES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
_STRUCTS = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


@dataclass(frozen=True)
class Pools:
    """Real values of the running world that hostile strings are drawn from as well."""

    ids: Sequence[str] = ()
    tokens: Sequence[str] = ()

    @property
    def strings(self) -> tuple[str, ...]:
        near_tokens = [variant for token in self.tokens for variant in (token + "x", token[:-1], "x" + token)]
        return (*HOSTILE_STRINGS, *self.ids, *self.tokens, *near_tokens)


@dataclass(frozen=True)
class Drawn:
    """A drawn request; its repr is a short summary (Hypothesis prints it for a failing example)."""

    message: Message

    def __repr__(self) -> str:
        return f"{self.message.DESCRIPTOR.name}({summary(self.message)})"


def summary(message: Message, width: int = 60) -> str:
    """One line: each set field, with long strings shortened and their length given."""
    parts = []
    for descriptor, value in message.ListFields():
        parts.append(f"{descriptor.name}={_short(value, width)}")
    return ", ".join(parts)


def _short(value: Any, width: int) -> str:
    if isinstance(value, Message):
        return "{" + summary(value, width) + "}"
    if isinstance(value, str | bytes):
        text = repr(value)
        return text if len(text) <= width else f"{text[:width]}…({len(value)} chars)"
    if hasattr(value, "items"):
        return "{" + ", ".join(f"{_short(k, width)}: {_short(v, width)}" for k, v in list(value.items())[:5]) + "}"
    if isinstance(value, Sequence) or hasattr(value, "__len__"):
        items = list(value)
        shown = ", ".join(_short(v, width) for v in items[:3])
        return f"[{shown}{', …' if len(items) > 3 else ''}]({len(items)})"
    return repr(value)


def requests(descriptor: Descriptor, pools: Pools) -> st.SearchStrategy[Drawn]:
    return messages(descriptor, pools).map(Drawn)


def messages(descriptor: Descriptor, pools: Pools, depth: int = 0) -> st.SearchStrategy[Message]:
    full_name = descriptor.full_name
    if full_name == "google.protobuf.Timestamp":
        return _time_message(descriptor, TIMESTAMP_SECONDS)
    if full_name == "google.protobuf.Duration":
        return _time_message(descriptor, (-DURATION_SECONDS, DURATION_SECONDS))
    if full_name == "google.protobuf.Struct":
        return st.dictionaries(st.text(max_size=8), json_values(), max_size=4).map(_struct)
    if full_name == "google.protobuf.Value":
        return json_values().map(_value)
    if full_name == "google.protobuf.ListValue":
        return st.lists(json_values(), max_size=4).map(lambda items: _value(items).list_value)
    cls = GetMessageClass(descriptor)
    if depth > 3:
        return st.just(cls())
    fields = {f.name: _field(f, pools, depth) for f in descriptor.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    for name, value in values.items():
        descriptor = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if _is_map(descriptor):
            value_field = descriptor.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif descriptor.is_repeated:
            target.extend(value)
        elif descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _is_map(descriptor: FieldDescriptor) -> bool:
    return descriptor.type == FieldDescriptor.TYPE_MESSAGE and descriptor.message_type.GetOptions().map_entry


def _field(descriptor: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    if _is_map(descriptor):
        entry = descriptor.message_type
        keys = _single(entry.fields_by_name["key"], pools, depth + 1)
        values = _single(entry.fields_by_name["value"], pools, depth + 1)
        return st.dictionaries(keys, values, max_size=3)
    single = _single(descriptor, pools, depth)
    if descriptor.is_repeated:
        # Mostly a few items; sometimes many copies of one, to find what a long list does.
        return st.one_of(st.lists(single, max_size=3), single.map(lambda item: [item] * LONG_LIST))
    return single


def _single(descriptor: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    kind = descriptor.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return messages(descriptor.message_type, pools, depth + 1)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [value.number for value in descriptor.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.sampled_from((-1, 99, *INT32)))
    if kind == FieldDescriptor.TYPE_STRING:
        return st.one_of(_text(), st.sampled_from(pools.strings))
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.sampled_from((b"", b"\x00" * 100_000, bytes(range(256)))))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    bounds = _int_bounds(kind)
    extremes = [value for value in (*SMALL_INTS, *INT32, *INT64, *UINT32, *UINT64) if bounds[0] <= value <= bounds[1]]
    return st.one_of(st.sampled_from(extremes), st.integers(*bounds))


def _int_bounds(kind: int) -> tuple[int, int]:
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return INT32
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return UINT32
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return UINT64
    return INT64


def _text() -> st.SearchStrategy[str]:
    # Any code point but surrogates, which protobuf cannot encode as UTF-8.
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=24)


def _time_message(descriptor: Descriptor, valid: tuple[int, int]) -> st.SearchStrategy[Message]:
    cls = GetMessageClass(descriptor)
    seconds = st.one_of(st.integers(*valid), st.sampled_from(ODD_SECONDS))
    nanos = st.one_of(st.integers(0, 999_999_999), st.sampled_from(ODD_NANOS))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def json_values() -> st.SearchStrategy[Any]:
    """JSON-ish values with NaN and infinities, and now and then a deeply nested one."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.floats(),
        st.sampled_from((math.nan, math.inf, -math.inf, 1e308, -0.0)),
        _text(),
        st.sampled_from(HOSTILE_STRINGS),
    )
    shallow = st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
        max_leaves=8,
    )
    # Deeper than ~30 levels (a dict level is 3 messages deep), the message cannot even be built
    # here: upb refuses it past depth 100 (the raw-bytes tests send deeper nesting to the server).
    return st.one_of(shallow, st.sampled_from((20, 30)).map(_nested))


def _nested(depth: int) -> Any:
    value: Any = 1.0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _value(item: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if item is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(item, bool):
        value.bool_value = item
    elif isinstance(item, float | int):
        value.number_value = float(item)
    elif isinstance(item, str):
        value.string_value = item
    elif isinstance(item, list):
        value.list_value.values.extend(_value(element) for element in item)
    else:
        value.struct_value.CopyFrom(_struct(item))
    return value


def _struct(items: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in items.items():
        struct.fields[key].CopyFrom(_value(item))
    return struct
