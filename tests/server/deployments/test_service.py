"""Deployments through a real server, on SQLite and PostgreSQL: their tokens (rotated, revoked with the
deployment, allowed nothing but their own signals), their states and links, and their health."""

from __future__ import annotations

import time
from dataclasses import replace

import grpc
import pytest

from mlmp_marketplace.v1 import catalog_pb2, datasets_pb2, deployments_pb2, deployments_pb2_grpc, signals_pb2
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import batch, signal, stored_count
from tests.helpers.server_thread import ServerThread

State = deployments_pb2.DeploymentState


def test_a_deployment_token_writes_only_its_own_signals_and_calls_nothing_else(market):
    first, second = market.deploy(name="one"), market.deploy(name="two")
    market.stream(second.token, [batch(1, signal("AAA"))])
    market.stream(first.token, [batch(1, signal("AAA"))])  # same sequence, other deployment: not a duplicate
    rows = market.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=market.admin).signals
    assert sorted(s.attribution.deployment_id for s in rows) == sorted([first.deployment.id, second.deployment.id])
    who = bearer(first.token)
    refused = [
        lambda: market.deployments.ListDeployments(deployments_pb2.ListDeploymentsRequest(), metadata=who),
        lambda: market.deployments.DeleteDeployment(
            deployments_pb2.DeleteDeploymentRequest(deployment_id=second.deployment.id), metadata=who
        ),
        lambda: market.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=who),
        lambda: market.catalog.ListCatalog(catalog_pb2.ListCatalogRequest(), metadata=who),
        lambda: market.datasets.ResolveRound(datasets_pb2.ResolveRoundRequest(number=1), metadata=who),
    ]
    for call in refused:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "deployment token cannot call" in caught.value.details()


def test_deleting_a_deployment_revokes_its_token_at_once_and_keeps_its_signals(market):
    created = market.deploy()
    market.stream(created.token, [batch(1, signal("AAA"))])
    market.deployments.DeleteDeployment(
        deployments_pb2.DeleteDeploymentRequest(deployment_id=created.deployment.id), metadata=market.acme
    )
    with pytest.raises(grpc.RpcError) as caught:
        market.stream(created.token, [batch(2, signal("BBB"))])
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stored_count(market.server) == 1


def test_a_rotated_token_replaces_the_old_one(market):
    created = market.deploy()
    rotated = market.deployments.RotateDeploymentToken(
        deployments_pb2.RotateDeploymentTokenRequest(deployment_id=created.deployment.id), metadata=market.acme
    )
    assert rotated.token != created.token
    assert rotated.deployment.token_hint.endswith(rotated.token[-4:])
    with pytest.raises(grpc.RpcError) as caught:
        market.stream(created.token, [batch(1, signal("AAA"))])
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert market.stream(rotated.token, [batch(1, signal("AAA"))])[0].accepted == 1


def test_a_stopped_deployment_takes_no_signals(market):
    created = market.deploy()
    market.deployments.TransitionDeployment(
        deployments_pb2.TransitionDeploymentRequest(deployment_id=created.deployment.id,
                                                    state=State.DEPLOYMENT_STATE_STOPPED),
        metadata=market.acme,
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        market.stream(created.token, [batch(1, signal("AAA"))])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is stopped" in caught.value.details()
    assert stored_count(market.server) == 0


def test_links_are_checked_and_handed_to_the_deployment_on_heartbeat(market):
    created = market.deploy()
    dep_id = created.deployment.id
    for links, message in [
        ({"endpoint_url": "ftp://x/y"}, "not a http/https URL"),
        ({"endpoint_url": "http://"}, "not a http/https URL"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            market.deployments.UpdateDeploymentLinks(
                deployments_pb2.UpdateDeploymentLinksRequest(
                    deployment_id=dep_id, links=deployments_pb2.DeploymentLinks(**links)
                ),
                metadata=market.acme,
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()
    market.deployments.UpdateDeploymentLinks(
        deployments_pb2.UpdateDeploymentLinksRequest(
            deployment_id=dep_id, links=deployments_pb2.DeploymentLinks(endpoint_url="http://127.0.0.1:8080")
        ),
        metadata=market.acme,
    )
    beat = market.deployments.DeploymentHeartbeat(
        deployments_pb2.DeploymentHeartbeatRequest(), metadata=bearer(created.token)
    )
    assert beat.links.endpoint_url == "http://127.0.0.1:8080"
    assert beat.HasField("last_heartbeat_time")


def test_a_links_update_keeps_the_links_it_was_not_given(market):
    from google.protobuf.field_mask_pb2 import FieldMask

    dep_id = market.deploy().deployment.id

    def update(mask: list[str] | None = None, **links: str) -> deployments_pb2.Deployment:
        request = deployments_pb2.UpdateDeploymentLinksRequest(
            deployment_id=dep_id, links=deployments_pb2.DeploymentLinks(**links),
            update_mask=FieldMask(paths=mask) if mask is not None else None,
        )  # fmt: skip
        return market.deployments.UpdateDeploymentLinks(request, metadata=market.acme)

    update(endpoint_url="http://127.0.0.1:8080")
    assert update().links.endpoint_url == "http://127.0.0.1:8080"  # an update that sets nothing drops nothing
    assert update(["endpoint_url"]).links.endpoint_url == ""  # named in the mask and empty: cleared
    assert update(["*"], endpoint_url="http://127.0.0.1:9090").links.endpoint_url == "http://127.0.0.1:9090"
    with pytest.raises(grpc.RpcError) as caught:
        update(["signals_url"])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a link" in caught.value.details()


def test_a_live_deployment_without_heartbeats_shows_unhealthy(settings):
    from mlmp_server.core.clock import ManualClock

    clock = ManualClock(time.time())
    server = ServerThread(replace(settings, heartbeat_timeout=30), clock=clock).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            from mlmp_marketplace.v1 import auth_pb2_grpc

            acme = bearer(
                create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), bearer(server.admin_token)).secret
            )
            stub = deployments_pb2_grpc.DeploymentServiceStub(channel)
            created = stub.CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=acme)
            get = deployments_pb2.GetDeploymentRequest(deployment_id=created.deployment.id)
            stub.TransitionDeployment(
                deployments_pb2.TransitionDeploymentRequest(
                    deployment_id=created.deployment.id, state=State.DEPLOYMENT_STATE_LIVE
                ),
                metadata=acme,
            )
            clock.advance(31)
            assert stub.GetDeployment(get, metadata=acme).state == State.DEPLOYMENT_STATE_UNHEALTHY

            def listed(state):
                request = deployments_pb2.ListDeploymentsRequest(state=state)
                return [d.id for d in stub.ListDeployments(request, metadata=acme).deployments]

            assert listed(State.DEPLOYMENT_STATE_UNHEALTHY) == [created.deployment.id]
            assert listed(State.DEPLOYMENT_STATE_LIVE) == []
            stub.DeploymentHeartbeat(deployments_pb2.DeploymentHeartbeatRequest(), metadata=bearer(created.token))
            assert stub.GetDeployment(get, metadata=acme).state == State.DEPLOYMENT_STATE_LIVE
            with pytest.raises(grpc.RpcError) as caught:
                stub.TransitionDeployment(
                    deployments_pb2.TransitionDeploymentRequest(
                        deployment_id=created.deployment.id, state=State.DEPLOYMENT_STATE_PENDING
                    ),
                    metadata=acme,
                )
            assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        server.stop()
