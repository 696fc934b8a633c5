"""Revocation in this process, in one place: a revoked token, removed vendor or deployment, or ended
run loses its cached introspection answers (so unary calls are refused from the next one on) and
every open stream standing on it ends at once with UNAUTHENTICATED and the reason."""

from __future__ import annotations

from typing import Protocol

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.errors import Unauthenticated
from mlmp_server.core.principal import Principal
from mlmp_server.core.streams import OpenStreams


class CachedAnswers(Protocol):
    """The introspection cache, as revocation sees it (interceptors/introspection.py holds the cache)."""

    def forget_token(self, token_id: str) -> int: ...

    def forget_run(self, run_id: str) -> int: ...

    def forget_vendor(self, vendor_id: str) -> int: ...

    def forget_deployment(self, deployment_id: str) -> int: ...

    def forget_refusals(self) -> int: ...


class Revocations:
    def __init__(self, introspector: CachedAnswers, streams: OpenStreams) -> None:
        self._introspector = introspector
        self._streams = streams

    def token_revoked(self, token_id: str) -> int:
        """Returns how many open streams were ended (as do the others)."""
        return self._token_gone(token_id, "the token this stream used was revoked")

    def token_rotated(self, token_id: str) -> int:
        return self._token_gone(token_id, "the token this stream used was rotated; reconnect with the new token")

    def vendor_removed(self, vendor_id: str) -> int:
        """For every token of the vendor: its own, and its deployments' and runs'."""
        return self._vendor_gone(vendor_id, "the vendor this stream's token belongs to was removed")

    def vendor_suspended(self, vendor_id: str) -> int:
        """As vendor_removed: every token of the vendor, sessions, deployments' and runs' included."""
        return self._vendor_gone(vendor_id, "the vendor this stream's token belongs to was suspended by an operator")

    def vendor_resumed(self) -> int:
        """Refusals cached while the vendor was suspended go (the cache keeps no vendor for a refusal)."""
        return self._introspector.forget_refusals()

    def _vendor_gone(self, vendor_id: str, reason: str) -> int:
        self._introspector.forget_vendor(vendor_id)
        return self._streams.end_where(lambda principal: principal.vendor_id == vendor_id, Unauthenticated(reason))

    def deployment_removed(self, deployment_id: str) -> int:
        self._introspector.forget_deployment(deployment_id)
        return self._streams.end_where(
            lambda principal: principal.deployment_id == deployment_id,
            Unauthenticated(f"the deployment {deployment_id} was deleted, and its token with it"),
        )

    def run_ended(self, run_id: str) -> int:
        """A run's tokens die with it; a deployment of the run (which also carries its run id) lives on."""
        self._introspector.forget_run(run_id)
        return self._streams.end_where(
            lambda principal: _is_run_token_of(principal, run_id),
            Unauthenticated(f"the run {run_id} ended, and the run token this stream used with it"),
        )

    def _token_gone(self, token_id: str, reason: str) -> int:
        self._introspector.forget_token(token_id)
        return self._streams.end_where(lambda principal: principal.token_id == token_id, Unauthenticated(reason))


def _is_run_token_of(principal: Principal, run_id: str) -> bool:
    return principal.kind == PrincipalKind.PRINCIPAL_KIND_RUN and principal.run_id == run_id
