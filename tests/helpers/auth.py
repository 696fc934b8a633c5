"""Callers for the tests: bearer metadata for a token, and a vendor with a token of chosen scopes."""

from __future__ import annotations

import grpc

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def create_vendor_token(
    auth: auth_pb2_grpc.AuthServiceStub,
    admin: tuple[tuple[str, str], ...],
    slug: str = "acme",
    scopes: tuple[str, ...] = ("catalog:read", "data:read", "training:write", "deploy:write"),
    **fields,
) -> auth_pb2.CreateApiTokenResponse:
    """The vendor `slug` (created unless it exists) and a new token of it."""
    try:
        auth.CreateVendor(auth_pb2.CreateVendorRequest(slug=slug, display_name=slug.title()), metadata=admin)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
    return auth.CreateApiToken(
        auth_pb2.CreateApiTokenRequest(vendor=slug, scopes=list(scopes), **fields), metadata=admin
    )
