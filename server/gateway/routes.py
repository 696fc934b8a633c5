"""Routes from the `google.api.http` annotations of any services' descriptors, and the router.

Start-up refuses invalid templates, variables that are not non-repeated leaf fields, and two rules
for one (HTTP method, path shape), naming both RPCs. Matching picks the most specific template
(literal > `*` > `**`), whatever order the rules were declared in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cachetools
from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

from mlmp_server.gateway.templates import PathTemplate, TemplateError, parse_template


class RouteError(ValueError):
    """An annotation the gateway cannot serve; the message names the RPC."""


@dataclass(frozen=True)
class Route:
    http_method: str
    template: PathTemplate
    body: str  # "", "*" or a top-level field name
    response_body: str
    method: MethodDescriptor

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def rpc_name(self) -> str:
        return f"{self.method.containing_service.full_name}.{self.method.name}"


class NoRoute(Exception):
    pass


class MethodNotAllowed(Exception):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(", ".join(allowed))
        self.allowed = allowed


def resolve_field_path(message: Descriptor, path: str) -> list[FieldDescriptor]:
    """Fields along a dotted path, matched by proto name or JSON name; KeyError if none."""
    fields: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for name in path.split("."):
        if current is None:
            raise KeyError(path)
        field = current.fields_by_name.get(name) or current.fields_by_camelcase_name.get(name)
        if field is None:
            raise KeyError(path)
        fields.append(field)
        current = field.message_type
    return fields


def _is_leaf(field: FieldDescriptor) -> bool:
    return field.type != FieldDescriptor.TYPE_MESSAGE and not field.is_repeated


def _pattern(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise RouteError("no HTTP method and path")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return kind.upper(), getattr(rule, kind)


def _route(rule: http_pb2.HttpRule, method: MethodDescriptor, nested: bool) -> Route:
    name = f"{method.containing_service.full_name}.{method.name}"
    if nested and rule.additional_bindings:
        raise RouteError(f"{name}: additional_bindings nest only one level")
    try:
        http_method, path = _pattern(rule)
        template = parse_template(path)
    except (RouteError, TemplateError) as error:
        raise RouteError(f"{name}: {error}") from None
    request = method.input_type
    for variable in template.variables:
        try:
            fields = resolve_field_path(request, variable)
        except KeyError:
            raise RouteError(f"{name}: {path!r} binds {variable!r}, which {request.full_name} lacks") from None
        if not _is_leaf(fields[-1]) or any(f.is_repeated for f in fields):
            raise RouteError(f"{name}: {path!r} binds {variable!r}, which is not a non-repeated scalar")
    if rule.body not in ("", "*") and rule.body not in request.fields_by_name:
        raise RouteError(f"{name}: body {rule.body!r} is not a top-level field of {request.full_name}")
    response = method.output_type
    if rule.response_body and rule.response_body not in response.fields_by_name:
        raise RouteError(f"{name}: response_body {rule.response_body!r} is not a field of {response.full_name}")
    return Route(http_method, template, rule.body, rule.response_body, method)


def routes_from_services(services: Iterable[ServiceDescriptor]) -> list[Route]:
    routes: list[Route] = []
    for service in services:
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(annotations_pb2.http):
                continue
            rule = options.Extensions[annotations_pb2.http]
            routes.append(_route(rule, method, nested=False))
            routes.extend(_route(extra, method, nested=True) for extra in rule.additional_bindings)
    seen: dict[tuple, Route] = {}
    for route in routes:
        key = (route.http_method, route.template.shape)
        if key in seen:
            first = seen[key]
            raise RouteError(
                f"{route.http_method} {route.template.source} ({route.rpc_name}) and "
                f"{first.http_method} {first.template.source} ({first.rpc_name}) match the same requests"
            )
        seen[key] = route
    return routes


KEPT_MATCHES = 1024  # (method, path) → route; refusals are not kept
MAX_KEPT_PATH = 512


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda route: route.template.specificity, reverse=True)
        self._verbs = {route.template.verb for route in self.routes if route.template.verb}
        self._matched: cachetools.LRUCache[tuple[str, str], tuple[Route, dict[str, str]]] = cachetools.LRUCache(
            KEPT_MATCHES
        )

    def match(self, http_method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path values. Recent matches are kept: hot paths (the catalog, the current
        round) repeat, and trying every template in turn was a fifth of the gateway's own time."""
        key = (http_method, raw_path)
        found = self._matched.get(key)
        if found is None:
            found = self._match(http_method, raw_path)
            if len(raw_path) <= MAX_KEPT_PATH:
                self._matched[key] = found
        route, values = found
        return route, dict(values)  # a copy: callers may change theirs

    def _match(self, http_method: str, raw_path: str) -> tuple[Route, dict[str, str]]:
        # A trailing `:verb` that some rule declares is that verb, never part of a verb-less rule's
        # last value; an undeclared one (`/things/a:other`) is part of the value.
        last = raw_path.rsplit("/", 1)[-1]
        declared_verb = ":" in last and last.rsplit(":", 1)[1] in self._verbs
        allowed: set[str] = set()
        for route in self.routes:
            if declared_verb and not route.template.verb:
                continue
            values = route.template.match(raw_path)
            if values is None:
                continue
            if route.http_method == http_method:
                return route, values
            allowed.add(route.http_method)
        if allowed:
            raise MethodNotAllowed(sorted(allowed))
        raise NoRoute()
