"""The objects the fuzzer aims at: two vendors, each with runs, deployments and tokens, set up over
the public API of a running server; the callers' own objects are kept out of the id pools, so a
fuzzed delete or revoke cannot take the fuzzer's own credentials away."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from mlmp_marketplace.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_server.core.tokens import TokenType, new_token
from tests.helpers.auth import bearer
from tests.helpers.fuzz.strategies import Pools

VENDOR_SCOPES = (
    "catalog:read", "data:read", "training:write", "deploy:write", "signals:read", "auth:introspect",
)  # fmt: skip


@dataclass
class World:
    callers: dict[str, str]  # "admin" / "vendor" / "deployment" → bearer token
    secrets: list[str]  # every real token created, for the leak checks
    pools: Pools


class _Builder:
    def __init__(self, channel: grpc.Channel, admin_token: str) -> None:
        self.admin = bearer(admin_token)
        self.auth = auth_pb2_grpc.AuthServiceStub(channel)
        self.training = training_pb2_grpc.TrainingServiceStub(channel)
        self.deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
        self.signals = signals_pb2_grpc.SignalServiceStub(channel)
        self.secrets = [admin_token]
        self.ids: list[str] = []

    def vendor(self, slug: str) -> tuple[str, str]:
        """(vendor id, a vendor token) for a new vendor."""
        vendor = self.auth.CreateVendor(
            auth_pb2.CreateVendorRequest(slug=slug, display_name=f"{slug} quant"), metadata=self.admin
        )
        return vendor.id, self.token(slug)

    def token(self, vendor: str = "", scopes: tuple[str, ...] = VENDOR_SCOPES) -> str:
        created = self.auth.CreateApiToken(
            auth_pb2.CreateApiTokenRequest(vendor=vendor, scopes=list(scopes), display_name="fuzz"),
            metadata=self.admin,
        )
        self.secrets.append(created.secret)
        return created.secret

    def victim_token(self, vendor: str = "", scopes: tuple[str, ...] = VENDOR_SCOPES) -> None:
        secret = self.token(vendor, scopes)
        self.ids.append(self.auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(secret)).token_id)

    def run(self, vendor_token: str, *states: training_pb2.RunState.ValueType) -> str:
        metadata = bearer(vendor_token)
        run = self.training.CreateTrainingRun(
            training_pb2.CreateTrainingRunRequest(task="signal", provider="local"), metadata=metadata
        )
        for state in states:
            self.training.TransitionTrainingRun(
                training_pb2.TransitionTrainingRunRequest(run_id=run.id, state=state), metadata=metadata
            )
        return run.id

    def succeeded_run(self, vendor_token: str) -> str:
        return self.run(vendor_token, training_pb2.RUN_STATE_RUNNING, training_pb2.RUN_STATE_SUCCEEDED)

    def deployment(self, vendor_token: str, run_id: str) -> tuple[str, str]:
        created = self.deployments.CreateDeployment(
            deployments_pb2.CreateDeploymentRequest(run_id=run_id, name="fuzz", provider="local"),
            metadata=bearer(vendor_token),
        )
        self.secrets.append(created.token)
        return created.deployment.id, created.token

    def run_token(self, vendor_token: str, run_id: str) -> str:
        issued = self.training.IssueRunToken(
            training_pb2.IssueRunTokenRequest(run_id=run_id), metadata=bearer(vendor_token)
        )
        self.secrets.append(issued.token)
        return issued.token

    def store_signal(self, deployment_token: str) -> None:
        signal = signals_pb2.Signal(symbol="AAPL", action=signals_pb2.ACTION_BUY, score=0.5, confidence=0.9)
        self.signals.StoreSignals(
            signals_pb2.StoreSignalsRequest(signals=[signal], sequence=1), metadata=bearer(deployment_token)
        )


def build_world(channel: grpc.Channel, admin_token: str) -> World:
    builder = _Builder(channel, admin_token)
    own_vendor_id, vendor_token = builder.vendor("fuzz-acme")
    rival_id, rival_token = builder.vendor("fuzz-rival")
    own_run = builder.succeeded_run(vendor_token)
    _, deployment_token = builder.deployment(vendor_token, own_run)
    builder.store_signal(deployment_token)
    # What the pools aim at: objects of both vendors that the callers do not depend on.
    for token in (vendor_token, rival_token):
        run_id = builder.succeeded_run(token)
        deployment_id, victim_deployment_token = builder.deployment(token, run_id)
        builder.store_signal(victim_deployment_token)
        running = builder.run(token, training_pb2.RUN_STATE_RUNNING)
        builder.run_token(token, running)
        builder.ids += [run_id, deployment_id, running]
    builder.victim_token("fuzz-acme")
    builder.victim_token("fuzz-rival")
    builder.victim_token("", ("admin",))
    builder.ids += [own_vendor_id, rival_id, "fuzz-acme", "fuzz-rival"]
    well_formed_fakes = [new_token(kind, seed=b"fuzz") for kind in TokenType]  # shape and checksum right
    return World(
        callers={"admin": admin_token, "vendor": vendor_token, "deployment": deployment_token},
        secrets=builder.secrets,
        pools=Pools(ids=builder.ids, tokens=[*builder.secrets, *well_formed_fakes]),
    )
