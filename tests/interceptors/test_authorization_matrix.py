"""Every RPC × every token kind × own / another vendor's object, against one real server (SQLite).

The expected outcome of each cell is derived from the contract (the `access` option: callers, scopes,
owner), never written by hand, so a new RPC is covered the day it is added. A call "passes auth" when
it ends with any code other than the refusals (UNAUTHENTICATED, PERMISSION_DENIED, and NOT_FOUND on a
method that addresses an owned object): the near-empty requests sent here may well fail later, with
INVALID_ARGUMENT or FAILED_PRECONDITION, which is the servicer speaking, after authorisation.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

import mlmp_marketplace.v1
from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    options_pb2,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_marketplace.v1.options_pb2 import OwnedKind, PrincipalKind
from mlmp_server.core.contract import MethodRule, MethodRules
from mlmp_server.core.principal import Principal
from mlmp_server.grpc_server import SERVICES
from mlmp_server.settings import RateLimit, Settings, default_database_url
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

Code = grpc.StatusCode
PASSES = "passes auth"
ALL_SCOPES = (
    "catalog:read", "data:read", "training:write", "deploy:write", "signals:read", "tokens:write", "auth:introspect"
)  # fmt: skip
CALLERS = ("admin", "vendor", "other_vendor", "service", "deployment", "run", "none")
# The caller's own object (acme's for admin); another vendor's; for deployment and run tokens also
# an object of their own vendor that is not theirs.
TARGETS = ("own", "foreign", "sibling")
STREAM_DEADLINE = 3.0  # a server stream that passes auth may never end; see _call
RULES = MethodRules.from_services(SERVICES)
UNLIMITED = RateLimit(per_second=1e6, burst=1e6)


@dataclass
class Caller:
    name: str
    metadata: tuple[tuple[str, str], ...] = ()
    principal: Principal | None = None
    own: dict[OwnedKind.ValueType, str] = field(default_factory=dict)  # the object "own" addresses, per kind


@dataclass
class World:
    """acme's and other's objects, and a token of every kind. Deployments are remade after a call that
    may have deleted one or rotated its token away; runs are terminal where tokens allow, so writes on
    them fail after authorisation instead of changing them."""

    server: ServerThread
    channel: grpc.Channel
    callers: dict[str, Caller] = field(default_factory=dict)
    vendor_of: dict[str, str] = field(default_factory=dict)  # object id → vendor id
    foreign: dict[str, dict[OwnedKind.ValueType, str]] = field(default_factory=dict)
    sibling: dict[str, dict[OwnedKind.ValueType, str]] = field(default_factory=dict)

    def build(self) -> None:
        admin = bearer(self.server.admin_token)
        auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        datasets_pb2_grpc.DatasetServiceStub(self.channel).PublishRound(publish_request({"a": b"x"}), metadata=admin)
        self.callers = {"admin": Caller("admin", admin), "none": Caller("none")}
        for name, slug in (("vendor", "acme"), ("other_vendor", "other")):
            self.callers[name] = Caller(name, bearer(create_vendor_token(auth, admin, slug, ALL_SCOPES).secret))
        for name, slug in (("vendor", "acme"), ("other_vendor", "other")):  # an API token each vendor owns
            spare = create_vendor_token(auth, admin, slug, ("catalog:read",)).token
            self.callers[name].own[OwnedKind.OWNED_KIND_API_TOKEN] = spare.id
            self.vendor_of[spare.id] = spare.vendor_id
        service = auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=list(ALL_SCOPES)), metadata=admin)
        self.callers["service"] = Caller("service", bearer(service.secret))
        runs = training_pb2_grpc.TrainingServiceStub(self.channel)
        acme, other = self.callers["vendor"], self.callers["other_vendor"]
        done = {name: self._finished_run(runs, self.callers[name].metadata) for name in ("vendor", "other_vendor")}
        live = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(), metadata=acme.metadata)
        self.vendor_of[live.id] = live.vendor_id
        run_token = runs.IssueRunToken(training_pb2.IssueRunTokenRequest(run_id=live.id), metadata=acme.metadata)
        self.callers["run"] = Caller("run", bearer(run_token.token), own={OwnedKind.OWNED_KIND_RUN: live.id})
        acme.own[OwnedKind.OWNED_KIND_RUN] = done["vendor"]
        other.own[OwnedKind.OWNED_KIND_RUN] = done["other_vendor"]
        self.callers["deployment"] = Caller("deployment", own={OwnedKind.OWNED_KIND_RUN: done["vendor"]})
        self.remake_deployments()
        spare = deployments_pb2_grpc.DeploymentServiceStub(self.channel).CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=acme.metadata
        )
        self.vendor_of[spare.deployment.id] = spare.deployment.vendor_id
        self.sibling = {
            "run": {OwnedKind.OWNED_KIND_RUN: done["vendor"], OwnedKind.OWNED_KIND_DEPLOYMENT: spare.deployment.id},
            "deployment": {OwnedKind.OWNED_KIND_RUN: live.id, OwnedKind.OWNED_KIND_DEPLOYMENT: spare.deployment.id},
        }
        for caller in self.callers.values():
            if caller.metadata:
                caller.principal = self._principal(auth, caller.metadata)

    def remake_deployments(self) -> None:
        stub = deployments_pb2_grpc.DeploymentServiceStub(self.channel)
        acme, other = self.callers["vendor"], self.callers["other_vendor"]
        for caller, run_id in ((acme, acme.own[OwnedKind.OWNED_KIND_RUN]), (other, "")):
            created = stub.CreateDeployment(
                deployments_pb2.CreateDeploymentRequest(run_id=run_id, provider="local"), metadata=caller.metadata
            )
            self.vendor_of[created.deployment.id] = created.deployment.vendor_id
            caller.own[OwnedKind.OWNED_KIND_DEPLOYMENT] = created.deployment.id
            if caller is acme:
                deployment = self.callers["deployment"]
                deployment.metadata = bearer(created.token)
                deployment.own[OwnedKind.OWNED_KIND_DEPLOYMENT] = created.deployment.id
        self.callers["admin"].own = dict(acme.own)
        self.foreign["vendor"], self.foreign["other_vendor"] = dict(other.own), dict(acme.own)
        for name in ("admin", "service", "deployment", "run", "none"):
            self.foreign[name] = dict(other.own)

    def _finished_run(self, runs, metadata) -> str:
        run = runs.CreateTrainingRun(training_pb2.CreateTrainingRunRequest(), metadata=metadata)
        for state in (training_pb2.RUN_STATE_RUNNING, training_pb2.RUN_STATE_SUCCEEDED):
            request = training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=state)
            runs.TransitionTrainingRun(request, metadata=metadata)
        self.vendor_of[run.id] = run.vendor_id
        return run.id

    @staticmethod
    def _principal(auth, metadata) -> Principal:
        who = auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=metadata)
        return Principal(
            token_id=who.token_id, kind=who.kind, scopes=frozenset(who.scopes), vendor_id=who.vendor.id,
            deployment_id=who.deployment_id, run_id=who.run_id,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = Path(tmp_path_factory.mktemp("matrix")) / "data"
    settings = Settings(data_dir=data, database_url=default_database_url(data), demo_round=False)
    settings = replace(settings, rate_limits=dict.fromkeys(("read", "write", "signal_ingest"), UNLIMITED))
    server = ServerThread(settings).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            built = World(server, channel)
            built.build()
            yield built
    finally:
        server.stop()


def _methods() -> list[tuple[str, MethodDescriptor]]:
    return [(f"/{service.full_name}/{method.name}", method) for service in SERVICES for method in service.methods]


def expected(rule: MethodRule, caller: Caller, object_id: str, vendor_of: dict[str, str]) -> Code | str:
    """What the contract says this caller gets on this object."""
    principal = caller.principal
    if rule.public:
        return PASSES
    if principal is None:
        return Code.UNAUTHENTICATED
    if principal.kind not in rule.callers or principal.missing_scopes(rule.scopes):
        return Code.PERMISSION_DENIED
    if rule.owner is None or principal.is_admin:
        return PASSES
    if principal.kind == PrincipalKind.PRINCIPAL_KIND_VENDOR:
        reaches = vendor_of.get(object_id) == principal.vendor_id
    else:
        reaches = object_id == caller.own.get(rule.owner.kind)
    return PASSES if reaches else Code.NOT_FOUND


def _request(method: MethodDescriptor, rule: MethodRule, object_id: str):
    message = message_factory.GetMessageClass(method.input_type)()
    if rule.owner is not None:
        *parents, last = rule.owner.path
        target = message
        for name in parents:
            target = getattr(target, name)
        setattr(target, last, object_id)
    return message


def _call(channel: grpc.Channel, name: str, method: MethodDescriptor, request, metadata) -> Code:
    output = message_factory.GetMessageClass(method.output_type)
    kinds = (method.client_streaming, method.server_streaming)
    factory = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[kinds]
    callable_ = factory(
        name, request_serializer=type(request).SerializeToString, response_deserializer=output.FromString
    )
    argument = iter([request]) if method.client_streaming else request
    # A server stream that passed auth may wait for events for ever (SubscribeSignals): its deadline
    # then reads as "passed". A refusal comes at once, so the deadline can only hide a refusal slower
    # than STREAM_DEADLINE, never invent one.
    timeout = STREAM_DEADLINE if method.server_streaming else 30.0
    try:
        result = callable_(argument, metadata=metadata, timeout=timeout)
        if method.server_streaming:
            for _ in result:
                pass
    except grpc.RpcError as error:
        return error.code()
    return Code.OK


def _outcome(code: Code, rule: MethodRule) -> Code | str:
    refusals = {Code.UNAUTHENTICATED, Code.PERMISSION_DENIED}
    if rule.owner is not None:
        refusals.add(Code.NOT_FOUND)
    return code if code in refusals else PASSES


@pytest.mark.parametrize(("name", "method"), _methods(), ids=[name.rsplit(".", 1)[-1] for name, _ in _methods()])
def test_every_caller_gets_what_the_contract_says(world: World, name: str, method: MethodDescriptor) -> None:
    rule = RULES.get(name)
    assert rule is not None
    cases = [
        (caller, target)
        for caller in CALLERS
        for target in (TARGETS if rule.owner else TARGETS[:1])
        if target != "sibling" or caller in world.sibling
    ]

    def run(case: tuple[str, str]) -> tuple[str, str, Code | str, Code | str, Code]:
        caller_name, target = case
        caller = world.callers[caller_name]
        kind = rule.owner.kind if rule.owner else OwnedKind.OWNED_KIND_UNSPECIFIED
        objects = {"own": caller.own, "foreign": world.foreign[caller_name], "sibling": world.sibling.get(caller_name)}
        object_id = (objects[target] or {}).get(kind, "")
        want = expected(rule, caller, object_id, world.vendor_of)
        code = _call(world.channel, name, method, _request(method, rule, object_id), caller.metadata)
        if want == PASSES and name.endswith(("/DeleteDeployment", "/RotateDeploymentToken")):
            world.remake_deployments()  # the next caller needs a deployment (and a deployment token) that works
        return caller_name, target, want, _outcome(code, rule), code

    if method.server_streaming:  # streams that pass wait out their deadline: wait once, for all cases
        with ThreadPoolExecutor(len(cases)) as pool:
            results = list(pool.map(run, cases))
    else:
        results = [run(case) for case in cases]
    wrong = [f"{c} on {t}: expected {w}, got {code.name}" for c, t, w, got, code in results if got != w]
    assert not wrong, f"{name}:\n  " + "\n  ".join(wrong)


def test_every_method_of_the_contract_names_its_callers():
    """Read from the descriptors, not through MethodRules: a method without callers must fail here too."""
    for name, method in _methods():
        options = method.GetOptions()
        assert options.HasExtension(options_pb2.access), f"{name} has no (access) option"
        access = options.Extensions[options_pb2.access]
        assert access.public or access.callers, f"{name} names no callers"


def test_every_service_of_the_generated_contract_is_served_and_in_the_matrix():
    served = {service.full_name for service in SERVICES}
    declared = set()
    for module in pkgutil.iter_modules(mlmp_marketplace.v1.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"mlmp_marketplace.v1.{module.name}").DESCRIPTOR
            declared |= {service.full_name for service in descriptor.services_by_name.values()}
    assert declared == served
    assert {name for name, _ in _methods()} == {rule.method for rule in RULES}
