"""Who is calling: set by the auth interceptor for the duration of one call, read by servicers;
and what every source of principals (database, RFC 7662 endpoint, the cache in front) promises."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Protocol

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.errors import Unauthenticated


@dataclass(frozen=True)
class Principal:
    token_id: str
    kind: PrincipalKind.ValueType
    scopes: frozenset[str]
    vendor_id: str = ""
    vendor_slug: str = ""
    vendor_display_name: str = ""
    deployment_id: str = ""
    run_id: str = ""
    expires_at: float | None = None  # seconds since the epoch

    @property
    def is_admin(self) -> bool:
        return self.kind == PrincipalKind.PRINCIPAL_KIND_ADMIN

    def has_scope(self, scope: str) -> bool:
        """`admin` grants everything; `x:write` grants `x:read`."""
        if "admin" in self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.partition(":")
        return action == "read" and f"{resource}:write" in self.scopes

    def missing_scopes(self, required: tuple[str, ...]) -> list[str]:
        return [scope for scope in required if not self.has_scope(scope)]


class Introspector(Protocol):
    async def introspect(self, token: str) -> Principal | None:
        """The token's principal, or None when the token is not active."""
        ...


def api_token_kind(has_vendor: bool, scopes: frozenset[str]) -> PrincipalKind.ValueType:
    """An API token is a vendor's when it has a vendor, else an operator's with `admin`, else a service's."""
    if has_vendor:
        return PrincipalKind.PRINCIPAL_KIND_VENDOR
    if "admin" in scopes:
        return PrincipalKind.PRINCIPAL_KIND_ADMIN
    return PrincipalKind.PRINCIPAL_KIND_SERVICE


@dataclass
class CallPrincipal:
    principal: Principal | None = None


# A holder rather than the principal itself: parts of a call that run in tasks of their own
# (server/core/completion.py) see a copy of the call's context, and the holder is shared by those copies.
_current: contextvars.ContextVar[CallPrincipal | None] = contextvars.ContextVar("principal", default=None)


def begin_call() -> CallPrincipal:
    """Starts a call with no principal; the interceptor calls it first, in the call's own task."""
    holder = CallPrincipal()
    _current.set(holder)
    return holder


def set_principal(principal: Principal | None) -> None:
    holder = _current.get()
    if holder is None:
        _current.set(CallPrincipal(principal))
    else:
        holder.principal = principal


def current_principal() -> Principal | None:
    holder = _current.get()
    return holder.principal if holder else None


def require_principal() -> Principal:
    """The caller; a servicer behind the auth interceptor always has one (fail closed if not)."""
    principal = current_principal()
    if principal is None:
        raise Unauthenticated("this call needs a bearer token")
    return principal
