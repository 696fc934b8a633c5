"""Ownership of the addressed object: one check in the interceptor chain, through a real server."""

from __future__ import annotations

import grpc
import pytest

from mlmp_marketplace.v1 import (
    auth_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    training_pb2,
    training_pb2_grpc,
)
from mlmp_marketplace.v1.options_pb2 import OwnedKind
from mlmp_server.db.owners import OwnerLookup
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import publish_request

VENDOR_SCOPES = ("catalog:read", "data:read", "training:write", "deploy:write", "signals:read")


def code_of(call, request, metadata) -> grpc.StatusCode:
    try:
        call(request, metadata=metadata)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


@pytest.fixture
def acme_deployment(channel, auth, admin) -> deployments_pb2.CreateDeploymentResponse:
    acme = bearer(create_vendor_token(auth, admin, slug="acme", scopes=VENDOR_SCOPES).secret)
    stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
    return stub.CreateDeployment(deployments_pb2.CreateDeploymentRequest(name="m", provider="local"), metadata=acme)


def test_a_service_token_with_vendor_scopes_cannot_touch_a_vendors_objects(channel, auth, admin, acme_deployment):
    service = bearer(
        auth.CreateApiToken(auth_pb2.CreateApiTokenRequest(scopes=list(VENDOR_SCOPES)), metadata=admin).secret
    )
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    runs = training_pb2_grpc.TrainingServiceStub(channel)
    dep = acme_deployment.deployment.id
    for call, request in (
        (deployments.RotateDeploymentToken, deployments_pb2.RotateDeploymentTokenRequest(deployment_id=dep)),
        (deployments.UpdateDeploymentLinks, deployments_pb2.UpdateDeploymentLinksRequest(deployment_id=dep)),
        (deployments.DeleteDeployment, deployments_pb2.DeleteDeploymentRequest(deployment_id=dep)),
        (deployments.ListDeployments, deployments_pb2.ListDeploymentsRequest()),
        (runs.ListTrainingRuns, training_pb2.ListTrainingRunsRequest()),
        (runs.IssueRunToken, training_pb2.IssueRunTokenRequest(run_id="run_x")),
    ):
        assert code_of(call, request, service) == grpc.StatusCode.PERMISSION_DENIED, call
    # The deployment token issued to acme still works: nobody rotated it away.
    heartbeat = deployments.DeploymentHeartbeat(
        deployments_pb2.DeploymentHeartbeatRequest(), metadata=bearer(acme_deployment.token)
    )
    assert heartbeat.id == dep


def test_another_vendors_deployment_does_not_exist_for_you(channel, auth, admin, acme_deployment):
    other = bearer(create_vendor_token(auth, admin, slug="other", scopes=VENDOR_SCOPES).secret)
    deployments = deployments_pb2_grpc.DeploymentServiceStub(channel)
    dep = acme_deployment.deployment.id
    with pytest.raises(grpc.RpcError) as caught:
        deployments.RotateDeploymentToken(
            deployments_pb2.RotateDeploymentTokenRequest(deployment_id=dep), metadata=other
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert dep in caught.value.details()
    assert "acme" not in caught.value.details()


def test_the_owner_lookup_finds_each_objects_vendor_and_nothing_for_unknown_ids(server, channel, auth, acme_deployment):
    """The resolver's query on SQLite and PostgreSQL (the `server` fixture runs on both)."""
    admin = bearer(server.admin_token)
    datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(publish_request({"a": b"x"}), metadata=admin)
    acme = bearer(create_vendor_token(auth, admin, slug="acme", scopes=VENDOR_SCOPES).secret)
    run = training_pb2_grpc.TrainingServiceStub(channel).CreateTrainingRun(
        training_pb2.CreateTrainingRunRequest(), metadata=acme
    )
    lookup = OwnerLookup(server.listening.resources.sessions)
    deployment = acme_deployment.deployment

    async def ask():
        return [
            await lookup.owner_of(OwnedKind.OWNED_KIND_DEPLOYMENT, deployment.id),
            await lookup.owner_of(OwnedKind.OWNED_KIND_RUN, run.id),
            await lookup.owner_of(OwnedKind.OWNED_KIND_RUN, deployment.id),  # a deployment's id is no run's
            await lookup.owner_of(OwnedKind.OWNED_KIND_DEPLOYMENT, "dep_unknown"),
        ]

    assert server.run_in_loop(ask) == [deployment.vendor_id, run.vendor_id, None, None]
    assert deployment.vendor_id == run.vendor_id
