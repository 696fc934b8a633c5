import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

from mlmp_marketplace.v1 import options_pb2, training_pb2
from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.contract import MethodRules
from mlmp_server.grpc_server import SERVICES

FieldType = descriptor_pb2.FieldDescriptorProto


def test_every_rpc_of_the_contract_declares_its_access():
    rules = MethodRules.from_services(SERVICES)
    names = {rule.method for rule in rules}
    assert "/marketplace.v1.AuthService/WhoAmI" in names
    assert len(names) == sum(len(service.methods) for service in SERVICES)


def test_rules_carry_scopes_callers_and_rate_class_from_the_proto():
    rules = MethodRules.from_services(SERVICES)
    store = rules.get("/marketplace.v1.SignalService/StoreSignals")
    assert store is not None
    assert store.scopes == ("signals:write",)
    assert store.callers == frozenset({PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT})
    assert store.rate_class == "signal_ingest"
    create_vendor = rules.get("/marketplace.v1.AuthService/CreateVendor")
    assert create_vendor is not None
    assert create_vendor.scopes == ("admin",)


def test_health_is_public_and_unknown_methods_have_no_rule():
    rules = MethodRules.from_services(SERVICES)
    health = rules.get("/grpc.health.v1.Health/Check")
    assert health is not None
    assert health.public
    assert rules.get("/marketplace.v1.AuthService/Nope") is None


def test_a_method_without_the_option_fails_at_start_up():
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="bare.proto", package="bare", syntax="proto3")
    file.message_type.add(name="M")
    service = file.service.add(name="Bare")
    service.method.add(name="Open", input_type=".bare.M", output_type=".bare.M")
    pool.Add(file)
    with pytest.raises(ValueError, match="/bare.Bare/Open"):
        MethodRules.from_services([pool.FindServiceByName("bare.Bare")])


def _service(**access) -> ServiceDescriptor:
    """A one-method service `bare.Bare/Open` whose request has `id` and `header.run_id`, with this access rule."""
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="bare.proto", package="bare", syntax="proto3")
    header = file.message_type.add(name="Header")
    header.field.add(name="run_id", number=1, type=FieldType.TYPE_STRING, label=FieldType.LABEL_OPTIONAL)
    request = file.message_type.add(name="M")
    request.field.add(name="id", number=1, type=FieldType.TYPE_STRING, label=FieldType.LABEL_OPTIONAL)
    request.field.add(name="ids", number=2, type=FieldType.TYPE_STRING, label=FieldType.LABEL_REPEATED)
    request.field.add(
        name="header", number=3, type=FieldType.TYPE_MESSAGE, type_name=".bare.Header", label=FieldType.LABEL_OPTIONAL
    )
    method = file.service.add(name="Bare").method.add(name="Open", input_type=".bare.M", output_type=".bare.M")
    method.options.Extensions[options_pb2.access].CopyFrom(options_pb2.AccessRule(**access))
    pool.Add(file)
    return pool.FindServiceByName("bare.Bare")


VENDOR, SERVICE = PrincipalKind.PRINCIPAL_KIND_VENDOR, PrincipalKind.PRINCIPAL_KIND_SERVICE
RUN = options_pb2.OWNED_KIND_RUN


def test_a_method_naming_no_callers_fails_at_start_up():
    with pytest.raises(ValueError, match="/bare.Bare/Open: its .access. option names no callers"):
        MethodRules.from_services([_service(scopes=["data:read"])])
    assert MethodRules.from_services([_service(public=True)]).get("/bare.Bare/Open").public


@pytest.mark.parametrize(
    ("owner", "callers", "message"),
    [
        ({"kind": RUN, "field": "nope"}, [VENDOR], "owner field 'nope' is not a string field of bare.M"),
        ({"kind": RUN, "field": "ids"}, [VENDOR], "owner field 'ids' is not a string field"),
        ({"kind": RUN, "field": "header"}, [VENDOR], "owner field 'header' is not a string field"),
        ({"field": "id"}, [VENDOR], "its owner names no kind of object"),
        ({"kind": RUN, "field": "id"}, [VENDOR, SERVICE], "addresses a vendor's run, which service tokens never reach"),
    ],
)
def test_a_wrong_owner_fails_at_start_up(owner, callers, message):
    with pytest.raises(ValueError, match=message):
        MethodRules.from_services([_service(callers=callers, owner=options_pb2.OwnedObject(**owner))])


def test_an_owner_field_may_be_nested_and_reads_empty_when_absent():
    rules = MethodRules.from_services(
        [_service(callers=[VENDOR], owner=options_pb2.OwnedObject(kind=RUN, field="header.run_id"))]
    )
    owner = rules.get("/bare.Bare/Open").owner
    assert owner is not None
    assert owner.path == ("header", "run_id")
    request = training_pb2.UploadRunArtifactRequest(header=training_pb2.UploadRunArtifactRequest.Header(run_id="r"))
    assert owner.object_id(request) == "r"
    assert owner.object_id(None) == ""


def test_every_owned_method_of_the_contract_keeps_service_tokens_out():
    owned = [rule for rule in MethodRules.from_services(SERVICES) if rule.owner is not None]
    assert {rule.short_name for rule in owned} >= {"RotateDeploymentToken", "IssueRunToken", "WatchTrainingRun"}
    assert all(SERVICE not in rule.callers for rule in owned)
