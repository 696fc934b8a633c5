"""What /livez and /readyz answer a load balancer.

Live: the process answers HTTP. Ready: the database answers with a schema this version can use (current, or
ahead of it because the next version migrated first, as a rollout does), and in replica mode Redis has answered
since start (after that, a Redis outage leaves the replica serving with its own limits: taking every replica out
of the balancer for it would turn a degraded limit into an outage). Not ready while draining after SIGTERM.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from mlmp_server.db.engine import current_revision, head_revision, schema_state

if TYPE_CHECKING:
    from mlmp_server.limits.shared import SharedBuckets

CHECK_TIMEOUT = 2.0


class Readiness:
    def __init__(self, engine: AsyncEngine, shared: SharedBuckets | None, *, replica: bool) -> None:
        """`shared`: the rate-limit buckets in Redis, when MP_REDIS_URL is set."""
        self._engine = engine
        self._shared = shared
        self._replica = replica
        self._head = head_revision()
        self.draining = False

    async def check(self) -> tuple[bool, dict[str, str]]:
        """(ready, what each part said)."""
        if self.draining:
            return False, {"status": "draining"}
        parts: dict[str, str] = {}
        ready = True
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                revision = await current_revision(self._engine)
        except Exception as error:  # any failure to answer is the same to a load balancer
            parts["database"] = f"unreachable ({type(error).__name__})"
            ready = False
        else:
            parts["database"] = "ok"
            state = schema_state(revision)
            if state == "current":
                parts["schema"] = f"current ({revision})"
            elif state == "behind":
                parts["schema"] = f"behind: at {revision or 'none'}, this version needs {self._head}"
                ready = False
            elif state == "ahead":
                parts["schema"] = f"ahead: at {revision}, migrated by a newer version"
            else:
                parts["schema"] = f"unknown: at {revision}, not a revision of this version or a newer one"
                ready = False
        if self._shared is not None:
            answers = await self._shared.ping()
            parts["redis"] = "ok" if answers else "unreachable: rate limits per replica"
            if self._replica and not self._shared.answered:
                ready = False
        parts["status"] = "ready" if ready else "not ready"
        return ready, parts
