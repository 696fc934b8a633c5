"""A second replica that trusts the first one's RFC 7662 endpoint instead of its own database."""

import time
from dataclasses import replace

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from mlmp_server.core.clock import ManualClock
from mlmp_server.settings import Settings, default_database_url
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.server_thread import ServerThread


def test_the_introspection_endpoint_needs_a_caller_with_the_scope(server, auth, admin, vendor):
    url = f"{server.http_url}/oauth2/introspect"
    assert httpx.post(url, data={"token": vendor.secret}).status_code == 401
    denied = httpx.post(url, data={"token": vendor.secret}, headers={"Authorization": f"Bearer {vendor.secret}"})
    assert denied.status_code == 403
    answer = httpx.post(url, data={"token": vendor.secret}, headers={"Authorization": f"Bearer {server.admin_token}"})
    assert answer.status_code == 200
    assert answer.json()["active"] is True
    assert answer.json()["sub"] == vendor.token.id


def test_a_replica_authenticates_through_a_remote_endpoint(server, auth, admin, vendor, tmp_path):
    introspector_token = auth.CreateApiToken(
        auth_pb2.CreateApiTokenRequest(scopes=["auth:introspect"], display_name="replica b"), metadata=admin
    ).secret
    replica_settings = replace(
        Settings(data_dir=tmp_path / "b", database_url=default_database_url(tmp_path / "b")),
        introspection_url=f"{server.http_url}/oauth2/introspect",
        introspection_token=introspector_token,
    )
    clock = ManualClock(start=time.time())
    replica = ServerThread(replica_settings, clock=clock).start()
    try:
        with grpc.insecure_channel(replica.grpc_target) as channel:
            remote = auth_pb2_grpc.AuthServiceStub(channel)
            principal = remote.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(vendor.secret))
            assert principal.vendor.slug == "acme"
            other = create_vendor_token(auth, admin, slug="other")
            assert remote.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(other.secret)).vendor.slug == "other"
            auth.RevokeApiToken(auth_pb2.RevokeApiTokenRequest(token_id=other.token.id), metadata=admin)
            clock.advance(replica_settings.introspection_ttl + 1)  # the replica's cached answer runs out
            with pytest.raises(grpc.RpcError) as caught:
                remote.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(other.secret))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        replica.stop()
