"""Path templates and start-up validation of HttpRules."""

from __future__ import annotations

import itertools
import re

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool

from mlmp_server.gateway.routes import MethodNotAllowed, RouteError, Router, routes_from_services
from mlmp_server.gateway.templates import TemplateError, parse_template

_counter = itertools.count()


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("/v1/things/{id}", "/v1/things/a%2Fb", {"id": "a/b"}),
        ("/v1/{name=shelves/*}", "/v1/shelves/s1", {"name": "shelves/s1"}),
        ("/v1/{x=**}", "/v1/a/b%2Fc", {"x": "a/b%2Fc"}),
        ("/v1/{x=**}", "/v1", {"x": ""}),  # `**` matches zero or more segments
        ("/v1/runs/{run_id}:cancel", "/v1/runs/r1:cancel", {"run_id": "r1"}),
        ("/v1/runs/{run_id}:cancel", "/v1/runs/r1", None),
        ("/v1/runs/{run_id}", "/v1/runs/r1:cancel", {"run_id": "r1:cancel"}),
        ("/v1/{run.id}/x", "/v1/7/x", {"run.id": "7"}),
        ("/v1/things/{id}", "/v1/things/", None),
        ("/v1/things/{id}", "/v1/things/a/b", None),
    ],
)
def test_matching(template, path, values):
    assert parse_template(template).match(path) == values


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("v1/x", "starts with '/'"),
        ("/v1/**/x", "'**' may only be the last"),
        ("/v1/{a={b}}", "do not nest"),
        ("/v1/{a", "unbalanced"),
        ("/v1/a}", "unbalanced"),
        ("/v1/{1bad}", "not a field path"),
        ("/v1/{a}/{a}", "appears twice"),
        ("/v1//x", "not a valid segment"),
    ],
)
def test_invalid_templates_say_why(template, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse_template(template)


def _service(rules: list[tuple[str, dict]]):
    """A throwaway service whose methods carry the given HttpRules."""
    name = f"gwroutes{next(_counter)}"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{name}.proto", package=name, syntax="proto3", dependency=["google/api/annotations.proto"]
    )
    message = file.message_type.add(name="M")
    message.field.add(name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    message.field.add(
        name="tags", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )  # fmt: skip
    service = file.service.add(name="S")
    for method_name, rule in rules:
        method = service.method.add(name=method_name, input_type=f".{name}.M", output_type=f".{name}.M")
        http = method.options.Extensions[annotations_pb2.http]
        for key, value in rule.items():
            setattr(http, key, value)
    descriptor_pool.Default().Add(file)
    return descriptor_pool.Default().FindServiceByName(f"{name}.S")


def test_two_rules_for_one_method_and_path_name_both_rpcs():
    service = _service([("First", {"get": "/v1/{id}"}), ("Second", {"get": "/v1/{id=*}"})])
    with pytest.raises(RouteError, match=r"\(gwroutes\d+\.S\.Second\).*\(gwroutes\d+\.S\.First\)"):
        routes_from_services([service])


def test_an_invalid_template_names_its_rpc():
    with pytest.raises(RouteError, match=re.escape("S.Broken: '/v1/**/x': '**' may only be the last")):
        routes_from_services([_service([("Broken", {"get": "/v1/**/x"})])])


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"get": "/v1/{missing}"}, "lacks"),
        ({"get": "/v1/{tags}"}, "not a non-repeated scalar"),
        ({"post": "/v1", "body": "nope"}, "not a top-level field"),
        ({"get": "/v1", "response_body": "nope"}, "response_body"),
    ],
)
def test_rules_that_cannot_bind_fail_at_start_up(rule, message):
    with pytest.raises(RouteError, match=message):
        routes_from_services([_service([("Bad", rule)])])


def test_same_path_with_other_methods_is_fine_and_specificity_ignores_order():
    service = _service(
        [("Any", {"get": "/v1/{id=**}"}), ("One", {"get": "/v1/{id}"}), ("Lit", {"get": "/v1/lit"}),
         ("Post", {"post": "/v1/{id}", "body": "*"})]
    )  # fmt: skip
    router = Router(routes_from_services([service]))
    assert router.match("GET", "/v1/lit")[0].method.name == "Lit"
    assert router.match("GET", "/v1/x")[0].method.name == "One"
    assert router.match("GET", "/v1/x/y")[0].method.name == "Any"
    assert router.match("POST", "/v1/x")[0].method.name == "Post"


def test_a_repeated_match_is_the_same_and_its_values_are_the_callers_own():
    service = _service([("One", {"get": "/v1/{id}"}), ("Post", {"post": "/v1/{id}", "body": "*"})])
    router = Router(routes_from_services([service]))
    route, values = router.match("GET", "/v1/x")
    values["id"] = "changed by the caller"
    again, values_again = router.match("GET", "/v1/x")
    assert (again, values_again) == (route, {"id": "x"})
    with pytest.raises(MethodNotAllowed) as refused:
        router.match("DELETE", "/v1/x")
    assert refused.value.allowed == ["GET", "POST"]  # refusals are answered each time, not kept
