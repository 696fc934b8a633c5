"""Request validation: tokens pasted into request fields are refused everywhere, and the value
constraints of the contract (`(rule)` options) are enforced on every request, over gRPC and REST."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.protobuf import message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import text

from mlmp_interceptors.validation import RequestValidator
from mlmp_marketplace.v1 import (
    auth_pb2,
    datasets_pb2,
    deployments_pb2,
    deployments_pb2_grpc,
    options_pb2,
    signals_pb2,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_server.core.contract import MethodRules
from mlmp_server.core.errors import InvalidArgument
from mlmp_server.core.tokens import TokenType, looks_like_token, new_token
from mlmp_server.db.models import Base
from mlmp_server.grpc_server import SERVICES
from tests.helpers.auth import bearer, create_vendor_token

TOKEN_REFUSAL = "holds what looks like an API token; tokens belong only in the Authorization header"
RULES = MethodRules.from_services(SERVICES)
Kind = options_pb2.PrincipalKind


def caller_of(method: MethodDescriptor) -> int:
    """Who may call the method, as the contract says: an operator when it may, else a vendor, else a deployment;
    anybody (no token: UNSPECIFIED) for a public method."""
    rule = RULES.get(f"/{method.containing_service.full_name}/{method.name}")
    assert rule is not None
    if rule.public:
        return Kind.PRINCIPAL_KIND_UNSPECIFIED
    preferred = (Kind.PRINCIPAL_KIND_ADMIN, Kind.PRINCIPAL_KIND_VENDOR, Kind.PRINCIPAL_KIND_DEPLOYMENT)
    return next(kind for kind in preferred if kind in rule.callers)


@pytest.mark.parametrize("token_type", list(TokenType))
def test_a_token_is_found_anywhere_in_a_string(token_type):
    token = new_token(token_type)
    assert looks_like_token(token)
    assert looks_like_token(f"https://example.com/hook?key={token}&x=1")
    assert looks_like_token(f"see {token}more")  # pasted with something stuck to its end
    assert looks_like_token(f"mpat_{token}")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Acme Quant",
        "mpat_",
        "mpat_ is our token prefix",
        "mpat_" + "a" * 49,  # the shape of a token, but not its checksum
        "my_project_name_with_many_underscores",
    ],
)
def test_ordinary_text_is_not_a_token(text):
    assert not looks_like_token(text)


def test_a_mistyped_token_is_not_a_token():
    token = new_token(TokenType.API)
    assert not looks_like_token(token[:-1] + ("x" if token[-1] != "x" else "y"))


def plant(message: Message, value: str, prefix: str = "") -> str | None:
    """Puts `value` into the first string field of `message` (depth first); returns its path."""
    descriptor: Descriptor = message.DESCRIPTOR
    for field in descriptor.fields:
        options = field.GetOptions()
        if options.HasExtension(options_pb2.rule) and options.Extensions[options_pb2.rule].token:
            continue
        path = prefix + field.name
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].message_type is struct_pb2.Value.DESCRIPTOR:
                getattr(message, field.name)["key"].string_value = value
                return f"{path}['key']"
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                getattr(message, field.name).append(value)
                return f"{path}[0]"
            setattr(message, field.name, value)
            return path
        if entry is not None and not entry.full_name.startswith("google.protobuf."):
            if field.is_repeated:
                child = getattr(message, field.name).add()
                found = plant(child, value, f"{path}[0].")
            else:
                child = getattr(message, field.name)
                found = plant(child, value, f"{path}.")
            if found:
                return found
            message.ClearField(field.name)
    return None


def methods_with_strings() -> list[tuple[MethodDescriptor, str]]:
    found = []
    for service in SERVICES:
        for method in service.methods:
            request = message_factory.GetMessageClass(method.input_type)()
            path = plant(request, "x")
            if path is not None:
                found.append((method, path))
    return found


def call(channel: grpc.Channel, method: MethodDescriptor, request: Message, metadata) -> None:
    name = f"/{method.containing_service.full_name}/{method.name}"
    serialize, parse = (lambda m: m.SerializeToString()), (lambda b: b)
    if method.client_streaming and method.server_streaming:
        list(channel.stream_stream(name, serialize, parse)(iter([request]), metadata=metadata))
    elif method.client_streaming:
        channel.stream_unary(name, serialize, parse)(iter([request]), metadata=metadata)
    elif method.server_streaming:
        next(iter(channel.unary_stream(name, serialize, parse)(request, metadata=metadata)))
    else:
        channel.unary_unary(name, serialize, parse)(request, metadata=metadata)


def test_every_rpc_with_a_string_field_is_covered():
    names = {method.name for method, _ in methods_with_strings()}
    assert {"CreateVendor", "CreateDeployment", "CreateTrainingRun", "StoreSignals", "PublishRound"} <= names
    assert "IntrospectToken" not in names  # its `token` field carries a token on purpose


def stored_rows(server) -> str:
    async def dump() -> str:
        async with server.listening.resources.engine.connect() as conn:
            rows = []
            for table in Base.metadata.sorted_tables:
                rows += [
                    f"{table.name} {tuple(row)!r}" for row in await conn.execute(text(f"SELECT * FROM {table.name}"))
                ]
            return "\n".join(rows)

    return server.run_in_loop(dump)


@pytest.fixture
def callers(channel, auth, admin) -> dict[int, tuple[tuple[str, str], ...]]:
    """Metadata for an operator, a vendor (acme), a deployment of acme, and nobody (public methods)."""
    scopes = ("catalog:read", "data:read", "training:write", "deploy:write", "tokens:write")
    acme = bearer(create_vendor_token(auth, admin, scopes=scopes).secret)
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    token = stub.CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=acme).token
    return {
        Kind.PRINCIPAL_KIND_ADMIN: admin,
        Kind.PRINCIPAL_KIND_VENDOR: acme,
        Kind.PRINCIPAL_KIND_DEPLOYMENT: bearer(token),
        Kind.PRINCIPAL_KIND_UNSPECIFIED: (),
    }


def test_a_token_in_any_string_field_of_any_rpc_is_refused_and_not_stored(server, channel, callers):
    before = stored_rows(server)
    token = new_token(TokenType.API)
    for method, _ in methods_with_strings():
        request = message_factory.GetMessageClass(method.input_type)()
        path = plant(request, f"pasted {token} here")
        with pytest.raises(grpc.RpcError) as caught:
            call(channel, method, request, callers[caller_of(method)])
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method.name
        assert caught.value.details() == f"{path} {TOKEN_REFUSAL}", method.name
        assert token.partition("_")[2][:12] not in caught.value.debug_error_string()
    assert stored_rows(server) == before


def _run_with_hyperparameter(value: struct_pb2.Value) -> training_pb2.CreateTrainingRunRequest:
    request = training_pb2.CreateTrainingRunRequest(provider="local")
    request.hyperparameters["l2"].CopyFrom(value)
    return request


@pytest.mark.parametrize(
    ("method", "make", "field"),
    [
        ("CreateVendor", lambda t: auth_pb2.CreateVendorRequest(slug="acme", display_name=t), "display_name"),
        (
            "CreateVendor",
            lambda t: auth_pb2.CreateVendorRequest(request_id=t, slug="x1", display_name="X"),
            "request_id",
        ),
        ("CreateDeployment", lambda t: deployments_pb2.CreateDeploymentRequest(provider="local", name=t), "name"),
        (
            "CreateDeployment",
            lambda t: deployments_pb2.CreateDeploymentRequest(
                provider="local", links=deployments_pb2.DeploymentLinks(endpoint_url=f"https://pod.example/?k={t}")
            ),
            "links.endpoint_url",
        ),
        (
            "AddSignalDestination",
            lambda t: deployments_pb2.AddSignalDestinationRequest(deployment_id="dep_x", url=f"https://x.example/{t}"),
            "url",
        ),
        ("CreateTrainingRun", lambda t: training_pb2.CreateTrainingRunRequest(provider="local", project=t), "project"),
        (
            "CreateTrainingRun",
            lambda t: _run_with_hyperparameter(struct_pb2.Value(string_value=t)),
            "hyperparameters['l2']",
        ),
        (
            "CreateTrainingRun",
            lambda t: _run_with_hyperparameter(
                struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(string_value=t)]))
            ),
            "hyperparameters['l2'][0]",
        ),
        (
            "StoreSignals",
            lambda t: signals_pb2.StoreSignalsRequest(signals=[signals_pb2.Signal(symbol="AAA", model_version=t)]),
            "signals[0].model_version",
        ),
        ("DeploymentHeartbeat", lambda t: deployments_pb2.DeploymentHeartbeatRequest(model_version=t), "model_version"),
    ],
)
def test_tokens_in_named_fields_are_refused(server, channel, callers, method, make, field):
    descriptor = next(m for s in SERVICES for m in s.methods if m.name == method)
    before = stored_rows(server)
    token = new_token(TokenType.DEPLOYMENT)
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, descriptor, make(token), callers[caller_of(descriptor)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"{field} {TOKEN_REFUSAL}"
    assert stored_rows(server) == before


def test_requests_are_validated_before_the_objects_they_address_are_looked_up(channel, callers):
    """A vendor's GetTrainingRun is checked for ownership by its run_id: validation comes first."""
    acme = callers[Kind.PRINCIPAL_KIND_VENDOR]
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        runs.GetTrainingRun(training_pb2.GetTrainingRunRequest(run_id=new_token(TokenType.RUN)), metadata=acme)
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"run_id {TOKEN_REFUSAL}",
    )
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        deployments.GetDeployment(deployments_pb2.GetDeploymentRequest(deployment_id="x" * 65), metadata=acme)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "deployment_id must be at most 64 characters, not 65"


def test_a_token_in_a_rest_body_gets_400_without_the_token(server, admin):
    token = new_token(TokenType.API)
    response = httpx.post(
        server.http_url + "/api/admin/vendors",
        json={"slug": "acme", "displayName": f"Acme {token}"},
        headers=dict(admin),
    )
    assert response.status_code == 400
    assert response.json()["message"] == f"display_name {TOKEN_REFUSAL}"
    assert token.partition("_")[2][:12] not in response.text


def test_a_token_can_still_be_introspected(server, auth, admin):
    vendor = create_vendor_token(auth, admin)
    answer = auth.IntrospectToken(auth_pb2.IntrospectTokenRequest(token=vendor.secret), metadata=admin)
    assert answer.active


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (auth_pb2.ListVendorsRequest(page_size=5000), "page_size must be at most 1000, not 5000"),
        (auth_pb2.ListVendorsRequest(page_size=-1), "page_size must be at least 0, not -1"),
        (auth_pb2.CreateVendorRequest(slug="Acme Corp", display_name="A"), "slug 'Acme Corp' is not valid: use 2–40"),
        (auth_pb2.CreateVendorRequest(slug="acme"), "display_name is required"),
        (auth_pb2.CreateVendorRequest(slug="acme", display_name="x" * 201), "display_name must be at most 200"),
        (auth_pb2.CreateApiTokenRequest(scopes=["data:read", "data:read"]), "scopes lists 'data:read' twice"),
        (datasets_pb2.ListRoundsRequest(state=42), "state is 42, not a known RoundState"),
        (datasets_pb2.GetRoundRequest(), "number is required"),
        (
            datasets_pb2.ResolveRoundRequest(
                number=1, returns=[datasets_pb2.SymbolReturn(symbol="AAA", realized_return=float("nan"))]
            ),
            "returns[0].realized_return must be a finite number, not nan",
        ),
        (
            training_pb2.ReportMetricsRequest(run_id="run_x", metrics=[training_pb2.Metric(key="loss", step=-1)]),
            "metrics[0].step must be at least 0, not -1",
        ),
        (
            _run_with_hyperparameter(struct_pb2.Value(number_value=float("inf"))),
            "hyperparameters['l2'] must be a finite number, not inf",
        ),
    ],
)
def test_contract_constraints_are_enforced(request_, message):
    with pytest.raises(InvalidArgument) as caught:
        RequestValidator().check(request_)
    assert caught.value.message.startswith(message)
    (bad_request,) = caught.value.details
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert caught.value.message.startswith(bad_request.field_violations[0].field)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: datasets_pb2.ResolveRoundRequest(returns=[datasets_pb2.SymbolReturn(symbol=t)]),  # number missing
        lambda t: auth_pb2.CreateApiTokenRequest(scopes=[t, t]),  # listed twice
        lambda t: auth_pb2.CreateVendorRequest(slug="Not A Slug", display_name=t),
    ],
)
def test_a_token_is_reported_before_any_other_problem_and_never_quoted(make):
    token = new_token(TokenType.RUN)
    with pytest.raises(InvalidArgument) as caught:
        RequestValidator().check(make(token))
    assert caught.value.message.endswith(TOKEN_REFUSAL)
    assert token not in caught.value.message


def test_constraint_violations_come_back_as_invalid_argument_with_field_details(channel, admin):
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        runs.ListTrainingRuns(training_pb2.ListTrainingRunsRequest(page_size=1001), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "page_size must be at most 1000, not 1001"
    trailers = dict(caught.value.trailing_metadata())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "page_size"


def test_requests_of_a_stream_are_each_checked(channel, admin):
    header = datasets_pb2.PublishRoundRequest(
        header=datasets_pb2.PublishRoundRequest.Header(files=[datasets_pb2.DatasetFile(name="train", format="csv")])
    )
    chunk = datasets_pb2.PublishRoundRequest(chunk=datasets_pb2.PublishRoundRequest.Chunk(file="Not A Name"))
    publish = channel.stream_unary("/marketplace.v1.DatasetService/PublishRound", lambda m: m.SerializeToString())
    with pytest.raises(grpc.RpcError) as caught:
        publish(iter([header, chunk]), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("chunk.file 'Not A Name' is not valid")


def test_the_openapi_document_carries_the_constraints(server):
    document = httpx.get(server.http_url + "/openapi.json").json()
    schemas = document["components"]["schemas"]

    def fields(message: str) -> dict:
        """A message's field schemas; each may also be null, which proto3 JSON reads as the default."""
        properties, required = schemas[message]["properties"], schemas[message].get("required", [])
        assert all(p["anyOf"][1] == {"type": "null"} for name, p in properties.items() if name not in required)
        return {name: p if name in required else p["anyOf"][0] for name, p in properties.items()}

    assert schemas["marketplace.v1.CreateVendorRequest"]["required"] == ["slug", "displayName"]
    vendor = fields("marketplace.v1.CreateVendorRequest")
    assert vendor["slug"]["pattern"] == "^[a-z][a-z0-9-]{1,39}$"
    assert vendor["displayName"].pop("description")  # the field's proto comment
    assert vendor["displayName"] == {"type": "string", "maxLength": 200, "minLength": 1}
    page_size = next(p for p in document["paths"]["/api/admin/vendors"]["get"]["parameters"] if p["name"] == "pageSize")
    assert page_size["schema"]["anyOf"] == [
        {"type": "integer", "format": "int32", "minimum": 0, "maximum": 1000},
        {"type": "string", "enum": [""]},  # `?pageSize=` leaves it unset
    ]
    signed = fields("marketplace.v1.CreateSignedUrlsRequest")
    assert signed["files"]["maxItems"] == 64
    assert signed["files"]["uniqueItems"] is True
    assert "from 1 to 604800 seconds" in signed["expiresIn"]["description"]
    watch = document["paths"]["/api/training/runs/{run_id}:watch"]["get"]["parameters"]
    assert next(p for p in watch if p["name"] == "afterSequence")["schema"]["anyOf"][0]["pattern"] == "^[0-9]+$"
    assert fields("marketplace.v1.IntrospectTokenResponse")["exp"]["pattern"] == "^-?[0-9]+$"
    run = fields("marketplace.v1.CreateTrainingRunRequest")["hyperparameters"]
    assert run["maxProperties"] == 256
    assert run["propertyNames"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def test_a_nul_character_is_refused_in_any_string_but_free_text(channel, admin):
    """PostgreSQL text cannot hold NUL: a filter or id holding one was INTERNAL there (the fuzz suite
    found ListApiTokens and ListCatalog). Free text a crashed script sends is made storable instead."""
    from mlmp_marketplace.v1 import auth_pb2_grpc, catalog_pb2, catalog_pb2_grpc

    calls = [
        lambda: auth_pb2_grpc.AuthServiceStub(channel).ListApiTokens(
            auth_pb2.ListApiTokensRequest(vendor="ac\x00me"), metadata=admin
        ),
        lambda: catalog_pb2_grpc.CatalogServiceStub(channel).ListCatalog(
            catalog_pb2.ListCatalogRequest(vendor="\x00"), metadata=admin
        ),
        lambda: auth_pb2_grpc.AuthServiceStub(channel).CreateVendor(
            auth_pb2.CreateVendorRequest(slug="acme", display_name="A\x00", request_id="r1"), metadata=admin
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "NUL character" in caught.value.details()
