"""Ownership of the object a request addresses, for every method whose access rule names an owner field.

One check for all services, after authentication: a vendor token reaches only its vendor's objects,
a deployment or run token only its own, an admin any. Refusals are NOT_FOUND with the message an
unknown id gets, so a caller cannot tell another vendor's object from none.
"""

from __future__ import annotations

from typing import Protocol

import grpc

from mlmp_interceptors.chain import RequestReader
from mlmp_marketplace.v1.options_pb2 import OwnedKind, PrincipalKind
from mlmp_server.core.contract import MethodRules, Owner
from mlmp_server.core.errors import NotFound, Unauthenticated
from mlmp_server.core.principal import Principal, current_principal

_HINTS = {
    OwnedKind.OWNED_KIND_DEPLOYMENT: ("deployment", "`mp deployments list` shows yours"),
    OwnedKind.OWNED_KIND_RUN: ("training run", "`mp train list` shows yours"),
    OwnedKind.OWNED_KIND_API_TOKEN: ("API token", "`mp tokens list` shows yours"),
}


class OwnerResolver(Protocol):
    """Looks up the vendor owning an object; None when there is no such object."""

    async def owner_of(self, kind: OwnedKind.ValueType, object_id: str) -> str | None: ...


class OwnershipCheck:
    def __init__(self, rules: MethodRules, resolver: OwnerResolver) -> None:
        self._rules = rules
        self._resolver = resolver

    async def __call__(self, method: str, context: grpc.aio.ServicerContext, request: RequestReader) -> None:
        rule = self._rules.get(method)
        if rule is None or rule.owner is None:
            return
        principal = current_principal()
        if principal is None:  # rules.py forbids an owner on a public method; fail closed all the same
            raise Unauthenticated("this call needs a token")
        object_id = rule.owner.object_id(await request())
        if not object_id or principal.is_admin:
            return  # an empty id addresses nothing: the servicer says what is missing
        if not await self._reaches(principal, rule.owner, object_id):
            what, hint = _HINTS[rule.owner.kind]
            raise NotFound(f"no {what} {object_id!r}; {_whose(principal, hint)}")

    async def _reaches(self, principal: Principal, owner: Owner, object_id: str) -> bool:
        if principal.kind == PrincipalKind.PRINCIPAL_KIND_VENDOR and principal.vendor_id:
            return await self._resolver.owner_of(owner.kind, object_id) == principal.vendor_id
        if principal.kind in (PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT, PrincipalKind.PRINCIPAL_KIND_RUN):
            # A deployment token's run is the run it serves: it reaches that run's model.
            own = principal.deployment_id if owner.kind == OwnedKind.OWNED_KIND_DEPLOYMENT else principal.run_id
            return bool(own) and object_id == own
        return False  # service tokens (and anything new) never reach a vendor's object


def _whose(principal: Principal, hint: str) -> str:
    if principal.kind == PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT:
        return "a deployment's token reaches its own deployment and model only"
    if principal.kind == PrincipalKind.PRINCIPAL_KIND_RUN:
        return "this token belongs to another run"
    return hint
