"""HTTP ↔ protobuf: a request message from path values, query parameters and a JSON body, and
JSON from a response, following the proto3 JSON mapping (protobuf's json_format).

Each leaf is bound by the path, else by the body, else by the query. With `body: "*"` there are no
query parameters. A path value overrides the same field in the body or query. Unknown JSON keys and
unknown query parameters are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from mlmp_server.gateway.json_encoding import message_to_json
from mlmp_server.gateway.routes import Route, resolve_field_path


class BadRequest(ValueError):
    """The HTTP request cannot become a gRPC request; the message says why."""

    status = 400


_INTEGERS = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}  # fmt: skip
_FLOATS = {FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE}
_WRAPPERS = {
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
}
_STRING_WKT = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
# ASCII only: int() and float() also take any Unicode digit ("١٢" is 12), "_", spaces and signs.
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_NUMBER_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_FLOAT_WORDS = ("NaN", "Infinity", "-Infinity")  # the proto3 JSON spellings


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def scalar_from_text(field: FieldDescriptor, text: str, where: str) -> Any:
    """A path or query string as the JSON value json_format expects for the field."""
    if field.message_type is not None:
        full_name = field.message_type.full_name
        if full_name in _WRAPPERS:
            return scalar_from_text(field.message_type.fields_by_name["value"], text, where)
        if full_name in _STRING_WKT:
            return text
        raise BadRequest(f"{where}: {field.name} is a message and cannot be set from text")
    if field.type in _INTEGERS:
        if not _INTEGER_TEXT.fullmatch(text):
            raise BadRequest(f"{where}: {text!r} is not an integer (ASCII digits, optionally after -)")
        return int(text)
    if field.type in _FLOATS:
        if not (_NUMBER_TEXT.fullmatch(text) or text in _FLOAT_WORDS):
            raise BadRequest(f"{where}: {text!r} is not a number such as -1.5 or 2e3")
        return float(text)
    if field.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() not in ("true", "false", "1", "0"):
            raise BadRequest(f"{where}: {text!r} is not true or false")
        return text.lower() in ("true", "1")
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)
        if field.enum_type.values_by_name.get(text) is None:
            names = ", ".join(v.name for v in field.enum_type.values)
            raise BadRequest(f"{where}: {text!r} is not one of {names}")
        return text
    return text  # strings; bytes stay base64 text, which json_format checks


def _assign(target: dict[str, Any], fields: list[FieldDescriptor], value: Any) -> None:
    for field in fields[:-1]:
        target = target.setdefault(field.json_name, {})
    target[fields[-1].json_name] = value


def _parse_into(message: Message, data: dict[str, Any], where: str) -> None:
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise BadRequest(f"{where}: {error}") from None
    except RecursionError:
        raise BadRequest(f"{where}: the document nests too deeply") from None
    # After ParseDict, which bounds the depth of every field it knows to 100.
    _check_number_texts(message.DESCRIPTOR, data, where)


def _check_number_texts(descriptor: Any, document: Any, where: str) -> None:  # a Descriptor (pure Python or upb)
    """Numbers written as JSON strings must be ASCII: json_format reads them with int() and float()."""
    if not isinstance(document, dict):
        return
    for key, value in document.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is None:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry and isinstance(value, dict):
            for map_key, item in value.items():
                _check_number_text(entry.fields_by_name["key"], map_key, where)
                _check_number_text(entry.fields_by_name["value"], item, where)
        elif field.is_repeated and isinstance(value, list):
            for item in value:
                _check_number_text(field, item, where)
        else:
            _check_number_text(field, value, where)


def _check_number_text(field: FieldDescriptor, value: Any, where: str) -> None:
    message_type = field.message_type
    if message_type is not None:
        if message_type.full_name in _WRAPPERS:
            _check_number_text(message_type.fields_by_name["value"], value, where)
        elif not message_type.full_name.startswith("google.protobuf."):
            _check_number_texts(message_type, value, where)
        return
    if not isinstance(value, str):
        return
    if field.type in _INTEGERS or field.type in _FLOATS:
        ok = bool(_NUMBER_TEXT.fullmatch(value)) or (field.type in _FLOATS and value in _FLOAT_WORDS)
    elif field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        ok = value in field.enum_type.values_by_name or bool(_INTEGER_TEXT.fullmatch(value))
    else:
        return
    if not ok:
        raise BadRequest(f"{where}: {field.json_name}: {value!r} is not a number written in ASCII digits")


def build_request(route: Route, path_values: dict[str, str], query: Iterable[tuple[str, str]], body: bytes) -> Message:
    request_type = route.method.input_type
    message = message_class(request_type)()
    if route.body:
        if not body.strip():
            document: Any = {}
        else:
            try:
                document = json.loads(body)
            except ValueError as error:
                raise BadRequest(f"the body is not valid JSON: {error}") from None
            except RecursionError:
                raise BadRequest("the body nests too deeply (protobuf messages nest at most 100 levels)") from None
        if route.body == "*":
            if not isinstance(document, dict):
                raise BadRequest("the body must be a JSON object")
            _parse_into(message, document, "body")
        else:
            _parse_into(message, {request_type.fields_by_name[route.body].json_name: document}, "body")
    if route.body != "*":
        _parse_into(message, _query_document(route, request_type, set(path_values), query), "query")
    path_document: dict[str, Any] = {}
    for variable, text in path_values.items():
        fields = resolve_field_path(request_type, variable)
        _assign(path_document, fields, scalar_from_text(fields[-1], text, f"path {{{variable}}}"))
    if path_document:
        _clear_path_fields(message, route, path_values)
        _parse_into(message, path_document, "path")
    return message


def _clear_path_fields(message: Message, route: Route, path_values: dict[str, str]) -> None:
    for variable in path_values:
        fields = resolve_field_path(route.method.input_type, variable)
        target = message
        for field in fields[:-1]:
            target = getattr(target, field.name)
        target.ClearField(fields[-1].name)


def _query_document(
    route: Route, request_type: Descriptor, path_bound: set[str], query: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    document: dict[str, Any] = {}
    repeated_values: dict[str, list[Any]] = {}
    for key, text in query:
        try:
            fields = resolve_field_path(request_type, key)
        except KeyError:
            continue  # unknown query parameters are ignored
        dotted = ".".join(f.name for f in fields)
        if dotted in path_bound or (route.body and fields[0].name == route.body):
            continue
        if any(f.is_repeated for f in fields[:-1]):
            raise BadRequest(f"query {key}: fields inside repeated messages cannot be set by query")
        last = fields[-1]
        if last.message_type is not None and last.message_type.GetOptions().map_entry:
            continue  # maps are not query-bindable
        if text == "" and last.type != FieldDescriptor.TYPE_STRING:
            continue  # `?n=` leaves a number, enum or time unset, as an empty form field does
        value = scalar_from_text(last, text, f"query {key}")
        if last.is_repeated:
            values = repeated_values.setdefault(dotted, [])
            values.append(value)
            _assign(document, fields, values)
        else:
            _assign(document, fields, value)
    return document


def response_json(route: Route, response: Message) -> Any:
    document = message_to_json(response)
    if route.response_body:
        field = route.method.output_type.fields_by_name[route.response_body]
        return document.get(field.json_name)
    return document
