"""An OpenAPI 3.1 document for the gateway's routes, built from the same descriptors, following
the proto3 JSON mapping (int64 as strings, enums by name, well-known types as their JSON forms),
with the value constraints of the fields' `(rule)` options, and the contracts' comments: each
operation's summary and description come from its RPC's comment, with who may call it (`(access)`:
scopes, token kinds, rate class) in words and as `x-mp-access`; schemas and parameters carry their
messages' and fields' comments (server/gateway/comments.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from mlmp_marketplace.v1 import options_pb2
from mlmp_server.gateway.comments import contract_comments, summary
from mlmp_server.gateway.routes import Route, resolve_field_path

_F = FieldDescriptor
# 64-bit integers are JSON strings of ASCII digits, which is all the gateway reads there.
_INT64, _UINT64 = r"^-?[0-9]+$", r"^[0-9]+$"
_SCALARS: dict[int, dict[str, Any]] = {
    _F.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _F.TYPE_FLOAT: {"type": "number", "format": "float"},
    _F.TYPE_INT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _F.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _F.TYPE_UINT32: {"type": "integer", "minimum": 0},
    _F.TYPE_FIXED32: {"type": "integer", "minimum": 0},
    _F.TYPE_INT64: {"type": "string", "format": "int64", "pattern": _INT64},
    _F.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": _INT64},
    _F.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": _INT64},
    _F.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": _UINT64},
    _F.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": _UINT64},
    _F.TYPE_BOOL: {"type": "boolean"},
    _F.TYPE_STRING: {"type": "string"},
    _F.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated field paths"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
}
_WRAPPED = {
    "DoubleValue": _F.TYPE_DOUBLE, "FloatValue": _F.TYPE_FLOAT, "Int64Value": _F.TYPE_INT64,
    "UInt64Value": _F.TYPE_UINT64, "Int32Value": _F.TYPE_INT32, "UInt32Value": _F.TYPE_UINT32,
    "BoolValue": _F.TYPE_BOOL, "StringValue": _F.TYPE_STRING, "BytesValue": _F.TYPE_BYTES,
}  # fmt: skip
ERROR_SCHEMA = {
    "type": "object",
    "description": "A google.rpc.Status: the gRPC code, a message safe to show, typed details.",
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": _WELL_KNOWN["google.protobuf.Any"]},
    },
    "required": ["code", "message", "details"],
}
MAX_QUERY_DEPTH = 3
_INT64_TYPES = (_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64)


class _Schemas:
    def __init__(self, comments: Mapping[str, str]) -> None:
        self.components: dict[str, Any] = {}
        self.comments = comments

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name.startswith("google.protobuf.") and descriptor.name in _WRAPPED:
            return {"anyOf": [dict(_SCALARS[_WRAPPED[descriptor.name]]), {"type": "null"}]}
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may refer to themselves
            self.components[name] = _described(self.object(descriptor), self.comments.get(name))
        return {"$ref": f"#/components/schemas/{name}"}

    def object(self, descriptor: Descriptor, leaving_out: frozenset[str] = frozenset()) -> dict[str, Any]:
        """A message's fields. Each may be `null` (proto3 JSON reads it as the field's default); a
        request's fields whose (rule) requires them are `required`."""
        fields = [field for field in descriptor.fields if field.json_name not in leaving_out]
        required = []
        if descriptor.name.endswith("Request"):  # request messages are never answers, which omit defaults
            required = [field.json_name for field in fields if (rule := _rule(field)) is not None and rule.required]
        properties = {
            field.json_name: _described(
                self.field(field) if field.json_name in required else _or_null(self.field(field)),
                self.comments.get(field.full_name),
            )
            for field in fields
        }
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        rule = _rule(field)
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            values = self.field(message_type.fields_by_name["value"])
            mapped: dict[str, Any] = {"type": "object", "additionalProperties": values}
            if rule is not None:
                mapped.update(_count_constraints(rule, "Properties"))
                names = _value_constraints(rule, message_type.fields_by_name["key"])
                if names:
                    mapped["propertyNames"] = names
            return mapped
        if field.type == _F.TYPE_ENUM:
            assert field.enum_type is not None
            members = field.enum_type.values
            single: dict[str, Any] = {  # proto3 JSON takes an enum's name or its number
                "anyOf": [
                    {"type": "string", "enum": [v.name for v in members]},
                    {"type": "integer", "enum": [v.number for v in members]},
                ]
            }
        elif message_type is not None:
            single = self.message(message_type)
        else:
            single = dict(_SCALARS[field.type])
        if rule is not None:
            single.update(_value_constraints(rule, field))
        if field.is_repeated:
            array: dict[str, Any] = {"type": "array", "items": single}
            if rule is not None:
                array.update(_count_constraints(rule, "Items"))
                if rule.unique:
                    array["uniqueItems"] = True
            return array
        return single


def _described(schema: dict[str, Any], comment: str | None) -> dict[str, Any]:
    """The schema with the comment first in its description (a constraint's words, if any, after it)."""
    if not comment:
        return schema
    extra = schema.get("description")
    return {**schema, "description": f"{comment}\n\n{extra}" if extra else comment}


_KIND_PREFIX, _RATE_PREFIX = "PRINCIPAL_KIND_", "RATE_CLASS_"


def access_of(method: MethodDescriptor) -> dict[str, Any] | None:
    """The method's `(access)` rule as `x-mp-access`: public, scopes, callers (token kinds), rateClass."""
    options = method.GetOptions()
    if not options.HasExtension(options_pb2.access):
        return None
    rule = options.Extensions[options_pb2.access]
    kinds = options_pb2.PrincipalKind
    rate = options_pb2.RateClass.Name(rule.rate_class or options_pb2.RATE_CLASS_READ)
    return {
        "public": rule.public,
        "scopes": list(rule.scopes),
        "callers": [kinds.Name(kind).removeprefix(_KIND_PREFIX).lower() for kind in rule.callers],
        "rateClass": "none" if rule.public else rate.removeprefix(_RATE_PREFIX).lower(),
    }


def _access_words(access: dict[str, Any]) -> str:
    if access["public"]:
        return "**Access**: public, no token needed."
    scopes = ", ".join(f"`{scope}`" for scope in access["scopes"]) or "none"
    callers = ", ".join(access["callers"])
    return f"**Access**: a bearer token of kind {callers}; scopes required: {scopes}; rate class {access['rateClass']}."


def _rule(field: FieldDescriptor) -> options_pb2.FieldRule | None:
    options = field.GetOptions()
    return options.Extensions[options_pb2.rule] if options.HasExtension(options_pb2.rule) else None


def _fields_by_json(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {field.json_name: field for field in descriptor.fields}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _value_constraints(rule: options_pb2.FieldRule, field: FieldDescriptor) -> dict[str, Any]:
    """JSON Schema keywords for one value of the field; what JSON Schema cannot say for a value
    carried as a string (int64, Duration) goes into a pattern or the description."""
    out: dict[str, Any] = {}
    low = _plain(rule.min) if rule.HasField("min") else None
    high = _plain(rule.max) if rule.HasField("max") else None
    if field.type == _F.TYPE_STRING:
        if rule.HasField("max_length"):
            out["maxLength"] = rule.max_length
        shortest = max(rule.min_length if rule.HasField("min_length") else 0, 1 if rule.required else 0)
        if shortest:
            out["minLength"] = shortest
        if rule.pattern:
            out["pattern"] = rule.pattern
    elif field.type in _INT64_TYPES:
        if low is not None and low >= 0:
            out["pattern"] = _UINT64
        if low is not None or high is not None:
            out["description"] = f"an integer {_range(low, high)}"
    elif field.type in _SCALARS and _SCALARS[field.type]["type"] in ("integer", "number"):
        if low is not None:
            out["minimum"] = low
        if high is not None:
            out["maximum"] = high
    elif field.message_type is not None and field.message_type.full_name == "google.protobuf.Duration":
        if low is not None or high is not None:
            out["description"] = f"a duration {_range(low, high)} seconds"
    return out


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"of at least {low}" if low is not None else f"of at most {high}"


def _count_constraints(rule: options_pb2.FieldRule, noun: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rule.HasField("min_items"):
        out[f"min{noun}"] = rule.min_items
    if rule.HasField("max_items"):
        out[f"max{noun}"] = rule.max_items
    return out


def _plain(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _is_leaf_for_query(field: FieldDescriptor) -> bool:
    message_type = field.message_type
    return (
        message_type is None
        or message_type.full_name in _WELL_KNOWN
        or (message_type.full_name.startswith("google.protobuf.") and message_type.name in _WRAPPED)
    )


def _query_fields(descriptor: Descriptor, prefix: str, depth: int) -> Iterable[tuple[str, FieldDescriptor]]:
    for field in descriptor.fields:
        name = prefix + field.json_name
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            continue
        if _is_leaf_for_query(field):
            if not field.is_repeated or message_type is None:
                yield name, field
        elif message_type is not None and not field.is_repeated and depth < MAX_QUERY_DEPTH:
            yield from _query_fields(message_type, name + ".", depth + 1)


def _operation(route: Route, schemas: _Schemas, operation_id: str, public: bool) -> dict[str, Any]:
    method = route.method
    request_type = method.input_type
    parameters = []
    bound = set()
    for variable in route.template.variables:
        fields = resolve_field_path(request_type, variable)
        bound.add(".".join(f.json_name for f in fields))
        parameters.append(
            _described(
                {"name": variable, "in": "path", "required": True, "schema": schemas.field(fields[-1])},
                schemas.comments.get(fields[-1].full_name),
            )
        )
    if route.body != "*":
        body_json = request_type.fields_by_name[route.body].json_name if route.body else None
        for name, field in _query_fields(request_type, "", 0):
            if name in bound or (body_json and name.split(".")[0] == body_json):
                continue
            schema = schemas.field(field)
            if field.type != _F.TYPE_STRING and not field.is_repeated:
                # `?n=` leaves a number, enum or time unset, as an empty form field does (transcode.py)
                schema = {"anyOf": [schema, {"type": "string", "enum": [""]}]}
            parameter = {"name": name, "in": "query", "required": False, "schema": schema}
            parameter = _described(parameter, schemas.comments.get(field.full_name))
            if field.is_repeated:
                parameter.update(style="form", explode=True)
            parameters.append(parameter)
    comment = schemas.comments.get(method.full_name, "")
    access = access_of(method)
    description = "\n\n".join(
        part for part in (comment, _access_words(access) if access else "", f"gRPC: `{method.full_name}`") if part
    )
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary(comment) if comment else f"{method.containing_service.name}.{method.name}",
        "description": description,
        "tags": [method.containing_service.name],
        "parameters": parameters,
        "responses": {
            "200": _response(route, schemas),
            "default": {
                "description": "An error: the gRPC status mapped to HTTP (404, 400, 401, 403, 409, 429, 501, 503, …)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
            },
        },
    }
    if route.body:
        if route.body != "*":
            schema = schemas.field(request_type.fields_by_name[route.body])
        elif bound:  # fields bound to the path come from the path, so the body does not carry them
            schema = schemas.object(request_type, leaving_out=frozenset(name.split(".")[0] for name in bound))
        else:
            schema = schemas.message(request_type)
        media = "application/x-ndjson" if method.client_streaming else "application/json"
        operation["requestBody"] = {"required": route.body != "*", "content": {media: {"schema": schema}}}
    if access is not None:
        operation["x-mp-access"] = access
    operation["security"] = [] if public or (access is not None and access["public"]) else [{"bearerAuth": []}]
    return operation


def _response(route: Route, schemas: _Schemas) -> dict[str, Any]:
    output = route.method.output_type
    schema = (
        schemas.field(output.fields_by_name[route.response_body]) if route.response_body else schemas.message(output)
    )
    if route.method.server_streaming:
        line = {
            "type": "object",
            "properties": {"result": schema, "error": {"$ref": "#/components/schemas/Status"}},
        }
        return {"description": "One JSON object per line", "content": {"application/x-ndjson": {"schema": line}}}
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def openapi_document(
    routes: Iterable[Route],
    *,
    title: str,
    version: str,
    is_public: Callable[[MethodDescriptor], bool] = lambda _method: False,
    comments: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`comments` by full name; marketplace.v1's own (contract_comments()) unless given."""
    schemas = _Schemas(contract_comments() if comments is None else comments)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    services: dict[str, str] = {}
    for route in sorted(routes, key=lambda r: (r.template.openapi_path(), r.http_method)):
        base_id = f"{route.method.containing_service.name}_{route.method.name}"
        operation_id, suffix = base_id, 2
        while operation_id in used_ids:
            operation_id, suffix = f"{base_id}{suffix}", suffix + 1
        used_ids.add(operation_id)
        service = route.method.containing_service
        services[service.name] = schemas.comments.get(service.full_name, "")
        paths.setdefault(route.template.openapi_path(), {})[route.http_method.lower()] = _operation(
            route, schemas, operation_id, is_public(route.method)
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "tags": [
            {"name": name, "description": text} if text else {"name": name} for name, text in sorted(services.items())
        ],
        "paths": paths,
        "components": {
            "schemas": {**dict(sorted(schemas.components.items())), "Status": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
