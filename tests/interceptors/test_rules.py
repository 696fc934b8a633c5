import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from interceptors.rules import MethodRules
from marketplace.v1.options_pb2 import PrincipalKind
from server.grpc_server import SERVICES


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


def test_redaction_hides_tokens_and_bearer_values():
    from interceptors.redaction import redact
    from server.tokens import TokenType, new_token

    token = new_token(TokenType.API)
    text = redact(f"no vendor {token!r}; header was Bearer abc.def")
    assert token[5:] not in text
    assert "abc.def" not in text
    assert "mpat_[REDACTED]" in text
