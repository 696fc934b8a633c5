"""Revocation, in one place: a revoked token, removed vendor or deployment, or ended run loses its
cached introspection answers (so unary calls are refused from the next one on) and every open stream
standing on it ends at once with UNAUTHENTICATED and the reason — in this process at once, and on every
other replica of the same database as soon as the notification arrives (server/core/notifications.py).

A replica that missed notifications (its listener reconnected) forgets every cached answer, so each
token is introspected again at its next call, and re-checks the tokens its open streams stand on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core.errors import Unauthenticated
from mlmp_server.core.notifications import REVOCATIONS, Notifications
from mlmp_server.core.principal import Principal
from mlmp_server.core.streams import OpenStreams


class CachedAnswers(Protocol):
    """The introspection cache, as revocation sees it (interceptors/introspection.py holds the cache)."""

    def forget_token(self, token_id: str) -> int: ...

    def forget_run(self, run_id: str) -> int: ...

    def forget_vendor(self, vendor_id: str) -> int: ...

    def forget_deployment(self, deployment_id: str) -> int: ...

    def forget_refusals(self) -> int: ...

    def forget_all(self) -> int: ...


log = logging.getLogger("mp.revocation")


class Revocations:
    """Each public method acts here and tells the other replicas, which act the same way (never telling on)."""

    def __init__(
        self,
        introspector: CachedAnswers,
        streams: OpenStreams,
        notifications: Notifications | None = None,
        on_vendor_or_deployment_change: Callable[[], None] = lambda: None,
        still_valid: Callable[[list[Principal]], Awaitable[set[str]]] | None = None,
    ) -> None:
        """still_valid(principals) → the token ids among theirs that are still accepted (the database's
        introspection); without it, open streams are not re-checked after a gap."""
        self._introspector = introspector
        self._streams = streams
        self._still_valid = still_valid
        self._rechecks: set[asyncio.Task[int]] = set()
        self._changed = on_vendor_or_deployment_change  # the catalog's answers go
        self._actions: dict[str, Callable[[str], int]] = {
            "token_revoked": self._token_revoked,
            "token_rotated": self._token_rotated,
            "vendor_removed": self._vendor_removed,
            "vendor_suspended": self._vendor_suspended,
            "vendor_resumed": lambda _: self._vendor_resumed(),
            "deployment_removed": self._deployment_removed,
            "run_ended": self._run_ended,
        }
        self._notifications = notifications
        if notifications is not None:
            notifications.on(REVOCATIONS, self._apply, on_gap=self._missed)

    def token_revoked(self, token_id: str) -> int:
        """Returns how many open streams were ended here (as do the others)."""
        return self._do("token_revoked", token_id)

    def token_rotated(self, token_id: str) -> int:
        return self._do("token_rotated", token_id)

    def vendor_removed(self, vendor_id: str) -> int:
        """For every token of the vendor: its own, and its deployments' and runs'."""
        return self._do("vendor_removed", vendor_id)

    def vendor_suspended(self, vendor_id: str) -> int:
        """As vendor_removed: every token of the vendor, sessions, deployments' and runs' included."""
        return self._do("vendor_suspended", vendor_id)

    def vendor_resumed(self) -> int:
        """Refusals cached while the vendor was suspended go (the cache keeps no vendor for a refusal)."""
        return self._do("vendor_resumed", "-")

    def deployment_removed(self, deployment_id: str) -> int:
        return self._do("deployment_removed", deployment_id)

    def run_ended(self, run_id: str) -> int:
        """A run's tokens die with it; a deployment of the run (which also carries its run id) lives on."""
        return self._do("run_ended", run_id)

    def _do(self, event: str, subject: str) -> int:
        ended = self._actions[event](subject)
        if self._notifications is not None:  # after acting here: the callers have committed what this is about
            self._notifications.send_soon(REVOCATIONS, f"{event} {subject}")
        return ended

    def _apply(self, payload: str) -> None:
        """Another replica's revocation, done here the same way."""
        event, _, subject = payload.partition(" ")
        action = self._actions.get(event)
        if action is None or not subject:
            log.warning("ignored a revocation notification of an unknown kind %r", event[:40])
            return
        action(subject)

    def _missed(self) -> None:
        forgotten = self._introspector.forget_all()
        self._changed()
        log.info("notifications may have been missed: %d cached introspection answer(s) dropped", forgotten)
        if self._still_valid is not None and len(self._streams):
            task = asyncio.get_running_loop().create_task(self.recheck_streams())
            self._rechecks.add(task)
            task.add_done_callback(self._rechecks.discard)

    async def recheck_streams(self) -> int:
        """Ends the open streams whose token is no longer accepted; returns how many."""
        assert self._still_valid is not None
        principals = self._streams.principals()
        if not principals:
            return 0
        checked = {principal.token_id for principal in principals}
        try:
            gone = checked - await self._still_valid(principals)
        except Exception as error:  # the database is still away: the next gap tries again
            log.warning("could not re-check the open streams' tokens (%s)", type(error).__name__)
            return 0
        ended = self._streams.end_where(
            lambda principal: principal.token_id in gone,  # streams opened since were checked when they opened
            Unauthenticated("the token this stream used is no longer valid (revoked, or its vendor suspended)"),
        )
        if ended:
            log.info("%d open stream(s) ended: their tokens were revoked while notifications were missed", ended)
        return ended

    def _token_revoked(self, token_id: str) -> int:
        return self._token_gone(token_id, "the token this stream used was revoked")

    def _token_rotated(self, token_id: str) -> int:
        return self._token_gone(token_id, "the token this stream used was rotated; reconnect with the new token")

    def _vendor_removed(self, vendor_id: str) -> int:
        return self._vendor_gone(vendor_id, "the vendor this stream's token belongs to was removed")

    def _vendor_suspended(self, vendor_id: str) -> int:
        return self._vendor_gone(vendor_id, "the vendor this stream's token belongs to was suspended by an operator")

    def _vendor_resumed(self) -> int:
        self._changed()
        return self._introspector.forget_refusals()

    def _vendor_gone(self, vendor_id: str, reason: str) -> int:
        self._introspector.forget_vendor(vendor_id)
        self._changed()
        return self._streams.end_where(lambda principal: principal.vendor_id == vendor_id, Unauthenticated(reason))

    def _deployment_removed(self, deployment_id: str) -> int:
        self._introspector.forget_deployment(deployment_id)
        self._changed()
        return self._streams.end_where(
            lambda principal: principal.deployment_id == deployment_id,
            Unauthenticated(f"the deployment {deployment_id} was deleted, and its token with it"),
        )

    def _run_ended(self, run_id: str) -> int:
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
