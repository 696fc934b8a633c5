"""Request validation: every incoming message is checked against the contract's `(rule)` field
options, and no string anywhere in it may hold a bearer token. Driven by the descriptors; the
checks of a message type are worked out once, on its first request. Runs in the chain as the first
request check (before ownership looks anything up) and, for client streams, on every message.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from mlmp_interceptors.chain import RequestReader
from mlmp_marketplace.v1 import options_pb2
from mlmp_server.core.errors import InvalidArgument
from mlmp_server.core.tokens import looks_like_token

_F = FieldDescriptor
_FLOATS = (_F.TYPE_DOUBLE, _F.TYPE_FLOAT)
_NUMBERS = (
    *_FLOATS, _F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_SINT32, _F.TYPE_SINT64,
    _F.TYPE_FIXED32, _F.TYPE_FIXED64, _F.TYPE_SFIXED32, _F.TYPE_SFIXED64,
)  # fmt: skip
# The ranges google/protobuf/timestamp.proto and duration.proto define as valid.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799  # 0001-01-01 … 9999-12-31T23:59:59 UTC
_MAX_DURATION_SECONDS = 315_576_000_000  # 10,000 years
_MAX_NANOS = 999_999_999
_STRUCT_TYPES = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")

Check = Callable[[Any, str], None]  # (value, its path in the request); raises InvalidArgument


def refuse(path: str, problem: str) -> InvalidArgument:
    violation = error_details_pb2.BadRequest.FieldViolation(field=path, description=problem)
    return InvalidArgument(f"{path} {problem}", details=[error_details_pb2.BadRequest(field_violations=[violation])])


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _token_check(value: str, path: str) -> None:
    if looks_like_token(value):
        raise refuse(path, "holds what looks like an API token; tokens belong only in the Authorization header")


def _text_check(value: str, path: str) -> None:
    """Every string but `any_text` ones: no token, and no NUL (PostgreSQL text cannot hold one)."""
    _token_check(value, path)
    if "\x00" in value:
        raise refuse(path, "holds a NUL character (\\x00), which no field takes")


# What a field's checks look at: a string's token check comes before its rules, which may quote it.
_TOKENS, _RULES = 0, 1
_Step = tuple[str, bool, Check]  # field name, only when the field is set, the check of its value


class RequestValidator:
    def __init__(self) -> None:
        self._plans: dict[str, tuple[_Step, ...]] = {}  # per message type, its steps in order

    def check(self, message: Message) -> None:
        """Raises InvalidArgument naming the first field that holds a token or breaks a rule."""
        try:
            self._walk(message, "")
        except InvalidArgument:
            _find_token(message, "")  # a token anywhere is the first thing to fix, whatever else is wrong
            raise

    async def __call__(self, method: str, context: grpc.aio.ServicerContext, request: RequestReader) -> None:
        """As a request check of the chain: the request, or a client stream's first message, is
        checked before any check that looks objects up by its fields."""
        message = await request()
        if isinstance(message, Message):  # not None (an empty stream) nor a request that did not decode
            self.check(message)

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """A client-streaming handler with every message checked as it is read (the first again,
        cheaply); other handlers as they are, their one request being the request check's."""
        if not handler.request_streaming:
            return handler
        check, streaming = self.check, handler.stream_unary or handler.stream_stream

        async def checked(requests: AsyncIterator[Message]) -> AsyncIterator[Message]:
            async for message in requests:
                if isinstance(message, Message):  # one that did not decode is refused further in
                    check(message)
                yield message

        def behavior(requests: Any, context: Any) -> Any:
            return streaming(checked(requests), context)

        field = "stream_unary" if handler.stream_unary else "stream_stream"
        return handler._replace(**{field: behavior})  # type: ignore[attr-defined]

    def _walk(self, message: Message, prefix: str) -> None:
        descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[assignment]
        plan = self._plans.get(descriptor.full_name)
        if plan is None:
            plan = self._plans[descriptor.full_name] = self._build(descriptor)
        for name, gated, check in plan:
            if gated and not message.HasField(name):
                continue
            check(getattr(message, name), prefix + name)

    def _build(self, descriptor: Descriptor) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        for field in descriptor.fields:
            options = field.GetOptions()
            rule = options.Extensions[options_pb2.rule] if options.HasExtension(options_pb2.rule) else None
            gated = field.message_type is not None and not field.is_repeated
            checks = sorted(self._field_checks(field, rule), key=lambda pair: pair[0])  # stable: tokens first
            for _, check in checks:
                # A `required` check must see the unset field; every other check only a set one.
                steps.append((field.name, gated and check is not _required_message, check))
        return tuple(steps)

    def _field_checks(self, field: FieldDescriptor, rule: options_pb2.FieldRule | None) -> Iterable[tuple[int, Check]]:
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            yield from self._map_checks(message_type, rule)
            return
        if rule is not None and rule.required and not field.is_repeated:
            yield _RULES, _required_message if message_type is not None else _required
        if field.is_repeated:
            if rule is not None and (rule.HasField("min_items") or rule.HasField("max_items") or rule.unique):
                yield _RULES, _items_check(rule)
            for which, element in self._value_checks(field, rule):
                yield which, _each(element)
            return
        yield from self._value_checks(field, rule)

    def _value_checks(self, field: FieldDescriptor, rule: options_pb2.FieldRule | None) -> Iterable[tuple[int, Check]]:
        """Checks of one value of the field (of each element, for a repeated field)."""
        message_type = field.message_type
        if message_type is not None:
            yield from self._message_checks(message_type, rule)
        elif field.type == _F.TYPE_STRING:
            if rule is None or not (rule.token or rule.any_text):
                yield _TOKENS, _text_check
            elif not rule.token:
                yield _TOKENS, _token_check
            if rule is not None and (rule.HasField("min_length") or rule.HasField("max_length") or rule.pattern):
                yield _RULES, _string_check(rule)
        elif field.type in _NUMBERS:
            if rule is not None and (rule.HasField("min") or rule.HasField("max") or rule.finite):
                yield _RULES, _number_check(rule)
        elif field.type == _F.TYPE_ENUM and rule is not None and rule.defined:
            assert field.enum_type is not None
            yield _RULES, _enum_check(frozenset(field.enum_type.values_by_number), field.enum_type.name)

    def _message_checks(
        self, message_type: Descriptor, rule: options_pb2.FieldRule | None
    ) -> Iterable[tuple[int, Check]]:
        name = message_type.full_name
        if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
            if rule is not None:  # without one, a time is the servicer's (signals reject bad ones one by one)
                yield _RULES, (_timestamp_check if name == "google.protobuf.Timestamp" else _duration_check)(rule)
        elif name in _STRUCT_TYPES:
            finite = rule is not None and rule.finite
            yield _TOKENS, lambda value, path: _walk_struct(value, path, finite)
        else:
            walk = self._walk
            yield _TOKENS, lambda value, path: walk(value, path + ".")

    def _map_checks(self, entry: Descriptor, rule: options_pb2.FieldRule | None) -> Iterable[tuple[int, Check]]:
        """Item counts and key rules from the map field's rule; the values' own checks per value."""
        if rule is not None and (rule.HasField("min_items") or rule.HasField("max_items")):
            yield _RULES, _items_check(rule)
        if entry.fields_by_name["key"].type == _F.TYPE_STRING:
            yield _TOKENS, _each_key(_text_check)
            if rule is not None and (rule.HasField("min_length") or rule.HasField("max_length") or rule.pattern):
                yield _RULES, _each_key(_string_check(rule))
        value_rule = options_pb2.FieldRule(finite=True) if rule is not None and rule.finite else None
        for which, check in self._value_checks(entry.fields_by_name["value"], value_rule):
            yield which, _each_value(check)


def _each(check: Check) -> Check:
    def each(values: Any, path: str) -> None:
        for index, value in enumerate(values):
            check(value, f"{path}[{index}]")

    return each


def _each_key(check: Check) -> Check:
    def each(values: Any, path: str) -> None:
        for key in values:
            check(key, f"{path} key")

    return each


def _each_value(check: Check) -> Check:
    def each(values: Any, path: str) -> None:
        for key, value in values.items():
            check(value, f"{path}[{key!r}]")

    return each


def _required(value: Any, path: str) -> None:
    if not value:
        raise refuse(path, "is required")


def _required_message(value: Message, path: str) -> None:
    if not value.ByteSize():
        raise refuse(path, "is required")


def _enum_check(known: frozenset[int], enum_name: str) -> Check:
    def enum(value: int, path: str) -> None:
        if value not in known:
            raise refuse(path, f"is {value}, not a known {enum_name}")

    return enum


def _items_check(rule: options_pb2.FieldRule) -> Check:
    low = rule.min_items if rule.HasField("min_items") else 0
    high = rule.max_items if rule.HasField("max_items") else math.inf
    unique = rule.unique

    def items(values: Any, path: str) -> None:
        count = len(values)
        if count < low:
            raise refuse(path, f"needs at least {low} entries, not {count}")
        if count > high:
            raise refuse(path, f"holds at most {high} entries, not {count}")
        if unique and len(set(values)) != count:
            seen: set[Any] = set()
            twice = next(v for v in values if v in seen or seen.add(v))  # type: ignore[func-returns-value]
            raise refuse(path, f"lists {_shown(twice)} twice")

    return items


def _shown(value: Any) -> str:
    if isinstance(value, str) and looks_like_token(value):
        return "a value that looks like a token"  # never echoed, whichever check runs first
    text = repr(value)
    return text if len(text) <= 66 else text[:64] + "…"


def _string_check(rule: options_pb2.FieldRule) -> Check:
    low = rule.min_length if rule.HasField("min_length") else 0
    high = rule.max_length if rule.HasField("max_length") else math.inf
    pattern = re.compile(rule.pattern) if rule.pattern else None
    wanted = (
        f"is not valid: use {rule.hint} (pattern {rule.pattern})" if rule.hint else f"does not match {rule.pattern}"
    )

    def string(value: str, path: str) -> None:
        if not value:  # proto3: empty is "not given"; `required` is the rule for that
            return
        if len(value) > high:
            raise refuse(path, f"must be at most {high} characters, not {len(value)}")
        if len(value) < low:
            raise refuse(path, f"must be at least {low} characters, not {len(value)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise refuse(path, f"{_shown(value)} {wanted}")

    return string


def _number_check(rule: options_pb2.FieldRule) -> Check:
    low = rule.min if rule.HasField("min") else -math.inf
    high = rule.max if rule.HasField("max") else math.inf
    finite = rule.finite

    def number(value: float, path: str) -> None:
        if finite and not math.isfinite(value):
            raise refuse(path, f"must be a finite number, not {value}")
        if value < low:
            raise refuse(path, f"must be at least {_number(low)}, not {_number(value)}")
        if value > high:
            raise refuse(path, f"must be at most {_number(high)}, not {_number(value)}")

    return number


def _timestamp_check(rule: options_pb2.FieldRule) -> Check:
    low = rule.min if rule.HasField("min") else -math.inf
    high = rule.max if rule.HasField("max") else math.inf

    def timestamp(value: Any, path: str) -> None:
        if not 0 <= value.nanos <= _MAX_NANOS:
            raise refuse(path, f"has nanos {value.nanos}; they must be 0 to {_MAX_NANOS}")
        if not _MIN_SECONDS <= value.seconds <= _MAX_SECONDS:
            raise refuse(path, "must lie between 0001-01-01 and 9999-12-31 UTC")
        if not low <= value.seconds <= high:
            raise refuse(path, f"must lie between {_utc(low)} and {_utc(high)}")

    return timestamp


def _utc(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "any time" if seconds < 0 else "any later time"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration_check(rule: options_pb2.FieldRule) -> Check:
    low = rule.min if rule.HasField("min") else -math.inf
    high = rule.max if rule.HasField("max") else math.inf

    def duration(value: Any, path: str) -> None:
        seconds, nanos = value.seconds, value.nanos
        if not -_MAX_NANOS <= nanos <= _MAX_NANOS or (seconds and nanos and (seconds < 0) != (nanos < 0)):
            raise refuse(path, f"has nanos {nanos}; they must be within ±{_MAX_NANOS}, with the sign of the seconds")
        if not -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS:
            raise refuse(path, "must be within ±10,000 years")
        total = seconds + nanos / 1e9
        if total < low:
            raise refuse(path, f"must be at least {_number(low)} s, not {_number(total)} s")
        if total > high:
            raise refuse(path, f"must be at most {_number(high)} s, not {_number(total)} s")

    return duration


def _find_token(message: Message, prefix: str) -> None:
    """The slow path, for a request already refused: raises for the first string holding a token."""
    for field, value in message.ListFields():
        path = prefix + field.name
        options = field.GetOptions()
        if options.HasExtension(options_pb2.rule) and options.Extensions[options_pb2.rule].token:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(key, str):
                    _token_check(key, f"{path} key")
                _find_token_in(entry.fields_by_name["value"], item, f"{path}[{key!r}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                _find_token_in(field, item, f"{path}[{index}]")
        else:
            _find_token_in(field, value, path)


def _find_token_in(field: FieldDescriptor, value: Any, path: str) -> None:
    if field.type == _F.TYPE_STRING:
        _token_check(value, path)
    elif field.message_type is not None and field.message_type.full_name in _STRUCT_TYPES:
        _walk_struct(value, path, False)
    elif field.message_type is not None:
        _find_token(value, path + ".")


def _walk_struct(value: Message, path: str, finite: bool) -> None:
    """A Struct, Value or ListValue: strings and keys free of tokens and NULs; numbers finite when asked."""
    name = value.DESCRIPTOR.full_name
    if name == "google.protobuf.Struct":
        for key, item in value.fields.items():  # type: ignore[attr-defined]
            _text_check(key, f"{path} key")
            _walk_struct(item, f"{path}[{key!r}]", finite)
    elif name == "google.protobuf.ListValue":
        for index, item in enumerate(value.values):  # type: ignore[attr-defined]
            _walk_struct(item, f"{path}[{index}]", finite)
    else:
        kind = value.WhichOneof("kind")
        if kind == "number_value" and finite and not math.isfinite(value.number_value):  # type: ignore[attr-defined]
            raise refuse(path, f"must be a finite number, not {value.number_value}")  # type: ignore[attr-defined]
        elif kind == "string_value":
            _text_check(value.string_value, path)  # type: ignore[attr-defined]
        elif kind in ("struct_value", "list_value"):
            _walk_struct(getattr(value, kind), path, finite)
