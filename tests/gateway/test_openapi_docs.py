"""The contracts' comments and `(access)` rules in /openapi.json: descriptions from the proto comments
(read from the generated source info), scopes and token kinds, and security that says public or bearer."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from mlmp_server.core.contract import contract_services
from mlmp_server.gateway.comments import clean, comments_of, contract_comments, summary
from mlmp_server.gateway.openapi import openapi_document
from mlmp_server.gateway.routes import routes_from_services
from mlmp_server.http_app import is_public


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    routes = routes_from_services(contract_services())
    return openapi_document(routes, title="t", version="1", is_public=is_public)


def _operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            if operation["operationId"] == operation_id:
                return operation
    raise AssertionError(f"no operation {operation_id}")


def test_comments_are_found_by_full_name_for_every_kind_of_declaration():
    file = descriptor_pb2.FileDescriptorProto(name="x.proto", package="p.v1")
    message = file.message_type.add(name="Outer")
    message.field.add(name="size")
    inner = message.nested_type.add(name="Inner")
    inner.field.add(name="deep")
    enum = file.enum_type.add(name="Color")
    enum.value.add(name="COLOR_RED")
    service = file.service.add(name="Paint")
    service.method.add(name="Mix")
    for path, leading, trailing in [
        ((4, 0), " The outer one.\n", ""),
        ((4, 0, 2, 0), " Its size,\n in bytes.\n", ""),
        ((4, 0, 3, 0, 2, 0), "", " trailing only\n"),
        ((5, 0, 2, 0), " Red.\n", ""),
        ((6, 0), " Paints.\n", ""),
        ((6, 0, 2, 0), " Mixes two colours. Slowly.\n\n A second paragraph:\n - one\n - two\n", ""),
    ]:
        file.source_code_info.location.add(path=path, leading_comments=leading, trailing_comments=trailing)
    found = comments_of([file])
    assert found == {
        "p.v1.Outer": "The outer one.",
        "p.v1.Outer.size": "Its size, in bytes.",
        "p.v1.Outer.Inner.deep": "trailing only",
        "p.v1.COLOR_RED": "Red.",
        "p.v1.Paint": "Paints.",
        "p.v1.Paint.Mix": "Mixes two colours. Slowly.\n\nA second paragraph:\n- one\n- two",
    }
    assert summary(found["p.v1.Paint.Mix"]) == "Mixes two colours."
    assert summary("A list:\n- a") == "A list"
    assert clean(" one\n\n\n two\n") == "one\n\ntwo"


def test_every_rpc_service_and_request_field_of_the_contract_has_a_comment():
    """A reader of the API (the console's reference, /openapi.json) sees each of these; a new RPC or
    request field without a comment fails here."""
    comments = contract_comments()
    missing = []
    for service in contract_services():
        missing += [service.full_name] if service.full_name not in comments else []
        for method in service.methods:
            missing += [method.full_name] if method.full_name not in comments else []
            missing += [field.full_name for field in method.input_type.fields if field.full_name not in comments]
    assert missing == []


def test_an_operation_carries_its_rpc_comment_scopes_and_token_kinds(document):
    validate(document)
    catalog = document["paths"]["/api/catalog"]["get"]
    comment = contract_comments()["marketplace.v1.CatalogService.ListCatalog"]
    assert catalog["summary"] == summary(comment)
    assert catalog["description"].startswith(comment)
    assert catalog["x-mp-access"] == {
        "public": False,
        "scopes": ["catalog:read"],
        "callers": ["admin", "vendor", "service"],
        "rateClass": "read",
    }
    assert "`catalog:read`" in catalog["description"]
    assert catalog["security"] == [{"bearerAuth": []}]
    page_size = next(p for p in catalog["parameters"] if p["name"] == "pageSize")
    assert page_size["description"] == contract_comments()["marketplace.v1.ListCatalogRequest.page_size"]


def test_security_says_public_or_bearer():
    routes = routes_from_services(contract_services())
    document = openapi_document(routes, title="t", version="1", is_public=lambda method: method.name == "ListRounds")
    security = {op["operationId"]: op["security"] for ops in document["paths"].values() for op in ops.values()}
    assert security.pop("DatasetService_ListRounds") == []
    assert security.pop("AuthService_AcceptInvitation") == []  # public in the contract itself
    assert set(map(str, security.values())) == {str([{"bearerAuth": []}])}


def test_schemas_and_tags_carry_message_and_field_comments(document):
    comments = contract_comments()
    schemas = document["components"]["schemas"]
    commented = [name for name in schemas if name in comments]
    assert commented, "some messages have comments"
    assert all(schemas[name]["description"] == comments[name] for name in commented)
    deliveries = schemas["marketplace.v1.Deployment"]["properties"]["deliveries"]
    assert deliveries["description"] == comments["marketplace.v1.Deployment.deliveries"]
    tags = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert tags["CatalogService"] == comments["marketplace.v1.CatalogService"]


def test_the_docs_page_shows_descriptions_as_text(document):
    from mlmp_server.gateway.docs import render_docs

    page = render_docs(document)
    assert "Lists vendors with their models" in page
    assert "scopes required: `catalog:read`" in page
    assert "<script" not in page
