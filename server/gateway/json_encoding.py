"""Responses to JSON, as protobuf's json_format writes them (proto3 mapping, fields without presence
always printed), several times faster.

json_format walks every message field by field through generic code; here each message type gets a
plan, built once from its descriptor, of (field, JSON name, converter). Well-known types other than
Timestamp and Duration are handed to json_format itself, so their special forms stay exact.
tests/gateway/test_json_encoding.py checks the output against json_format.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
_PLANS: dict[str, list[tuple[str, str, bool, str, Convert, Convert | None]]] = {}
_CONVERTERS: dict[str, Convert] = {}
_INT64 = {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64}
_FOUR_DIGIT_YEARS = (-30_610_224_000, 253_402_300_800)  # 1000-01-01, 10000-01-01 in seconds since the epoch
_SPECIAL_FLOATS = {math.inf: "Infinity", -math.inf: "-Infinity"}


def message_to_json(message: Message) -> Any:
    return _message_converter(message.DESCRIPTOR)(message)


def _message_converter(descriptor: Any) -> Convert:  # a Descriptor (pure Python or upb)
    found = _CONVERTERS.get(descriptor.full_name)
    if found is None:
        if descriptor.full_name == "google.protobuf.Timestamp":
            found = _timestamp
        elif descriptor.full_name == "google.protobuf.Duration":
            found = _json_string
        elif descriptor.full_name.startswith("google.protobuf."):
            found = _well_known
        else:
            plan = _plan(descriptor)
            found = lambda value: _encode(value, plan)  # noqa: E731
        _CONVERTERS[descriptor.full_name] = found
    return found


def _json_string(value: Any) -> str:
    return value.ToJsonString()


def _timestamp(value: Any) -> str:
    """Timestamp.ToJsonString's text, without its datetime arithmetic (years 1000-9999; others go to it)."""
    seconds, nanos = value.seconds, value.nanos
    if not _FOUR_DIGIT_YEARS[0] <= seconds < _FOUR_DIGIT_YEARS[1] or not 0 <= nanos < 1_000_000_000:
        return value.ToJsonString()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


def _well_known(value: Message) -> Any:
    return json_format.MessageToDict(value, always_print_fields_with_no_presence=True)


def _plan(descriptor: Descriptor) -> list[tuple[str, str, bool, str, Convert, Convert | None]]:
    plan = _PLANS.get(descriptor.full_name)
    if plan is None:
        plan = _PLANS[descriptor.full_name] = []  # registered first: recursive messages find it
        for field in descriptor.fields:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                plan.append((field.name, field.json_name, False, "map", _converter(value), _map_key(key)))
            else:
                kind = "repeated" if field.is_repeated else "single"
                plan.append((field.name, field.json_name, field.has_presence, kind, _converter(field), None))
    return plan


def _encode(message: Message, plan: list[tuple[str, str, bool, str, Convert, Convert | None]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, json_name, presence, kind, convert, convert_key in plan:
        if presence:
            if message.HasField(name):
                document[json_name] = convert(getattr(message, name))
        elif kind == "single":
            document[json_name] = convert(getattr(message, name))
        elif kind == "repeated":
            document[json_name] = [convert(item) for item in getattr(message, name)]
        else:
            assert convert_key is not None
            document[json_name] = {convert_key(k): convert(v) for k, v in getattr(message, name).items()}
    return document


def _map_key(field: FieldDescriptor) -> Convert:
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return lambda key: "true" if key else "false"
    return str


def _converter(field: FieldDescriptor) -> Convert:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        message_type = field.message_type
        return lambda value: _message_converter(message_type)(value)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        assert field.enum_type is not None
        if field.enum_type.full_name == "google.protobuf.NullValue":
            return lambda _value: None
        names = {number: value.name for number, value in field.enum_type.values_by_number.items()}
        return lambda value: names.get(value, value)  # an open enum's unknown number prints as a number
    if field.type == FieldDescriptor.TYPE_BYTES:
        return lambda value: base64.b64encode(value).decode()
    if cpp in _INT64:
        return str
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return lambda value: _double(value) if not math.isfinite(value) else type_checkers.ToShortestFloat(value)
    return lambda value: value


def _double(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else _SPECIAL_FLOATS[value]
