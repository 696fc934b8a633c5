"""Token introspection: where a token's principal comes from, and the TTL cache in front of it.

Sources: the local database (server/auth/introspection.py) or a remote RFC 7662 endpoint
(RemoteIntrospector). The cache keeps answers for `ttl` seconds, never past the token's expiry,
negative answers only for `negative_ttl`; concurrent misses for one token share one introspection.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cachetools

from mlmp_marketplace.v1.options_pb2 import PrincipalKind
from mlmp_server.core import metrics
from mlmp_server.core.clock import Clock, system_clock
from mlmp_server.core.errors import Unavailable
from mlmp_server.core.principal import Introspector, Principal, api_token_kind

if TYPE_CHECKING:
    import httpx

_HIT, _MISS, _NEGATIVE_HIT = (metrics.introspection_cache.labels(result) for result in ("hit", "miss", "negative_hit"))


@dataclass(frozen=True)
class _Answer:
    principal: Principal | None
    cached_at: float


class CachingIntrospector:
    def __init__(
        self,
        source: Introspector,
        *,
        ttl: float = 60.0,
        negative_ttl: float = 5.0,
        clock: Clock = system_clock,
        max_entries: int = 50_000,
    ) -> None:
        self._source = source
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._cache: cachetools.TLRUCache[bytes, _Answer] = cachetools.TLRUCache(
            max_entries, ttu=self._expiry, timer=clock
        )
        self._in_flight: dict[bytes, asyncio.Future[Principal | None]] = {}
        self.source_calls = 0  # how many introspections reached the source (tests and benchmarks read it)
        self._forgets = 0  # bumped by every forget_*: an answer read before one may predate a revocation

    def _expiry(self, _key: bytes, answer: _Answer, now: float) -> float:
        if answer.principal is None:
            return now + self._negative_ttl
        expires_at = answer.principal.expires_at
        return min(now + self._ttl, expires_at) if expires_at is not None else now + self._ttl

    async def introspect(self, token: str) -> Principal | None:
        # The cache is keyed by a hash so that no token stays in memory past its call.
        key = hashlib.sha256(token.encode()).digest()
        answer = self._cache.get(key)
        if answer is not None:
            (_HIT if answer.principal is not None else _NEGATIVE_HIT).inc()
            return answer.principal
        _MISS.inc()  # a caller joining another's introspection below waits on the source too
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            principal = await self._ask_source(token)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # marks it retrieved when nobody else was waiting
            raise
        finally:
            del self._in_flight[key]
        if principal is None or principal.expires_at is None or principal.expires_at > self._clock():
            self._cache[key] = _Answer(principal, self._clock())
        future.set_result(principal)
        return principal

    async def _ask_source(self, token: str) -> Principal | None:
        """The source's answer, asked again while revocations land meanwhile: a revocation is forgotten
        here after its commit, so an answer asked for after the forget sees it (bounded: 3 tries)."""
        for _attempt in range(3):
            forgets = self._forgets
            self.source_calls += 1
            principal = await self._source.introspect(token)
            if principal is None or self._forgets == forgets:
                break
        return principal

    def forget_token(self, token_id: str) -> int:
        """Drops every cached answer for the token id (on revocation); returns how many."""
        return self._forget(lambda principal: principal.token_id == token_id)

    def forget_run(self, run_id: str) -> int:
        """Drops cached answers for a run's tokens (they die with the run); returns how many."""
        return self._forget(lambda principal: principal.run_id == run_id)

    def forget_vendor(self, vendor_id: str) -> int:
        """Drops cached answers for every token of a vendor (its own, its deployments', its runs')."""
        return self._forget(lambda principal: principal.vendor_id == vendor_id)

    def forget_deployment(self, deployment_id: str) -> int:
        return self._forget(lambda principal: principal.deployment_id == deployment_id)

    def forget_refusals(self) -> int:
        """Drops every cached refusal (a resumed vendor's tokens work again from the next call on)."""
        keys = [key for key, answer in list(self._cache.items()) if answer.principal is None]
        for key in keys:
            self._cache.pop(key, None)
        return len(keys)

    def forget_all(self) -> int:
        """Drops every cached answer (revocations may have been missed: each token is asked about again)."""
        self._forgets += 1
        count = len(self._cache)
        self._cache.clear()
        return count

    def _forget(self, matches: Callable[[Principal], bool]) -> int:
        self._forgets += 1
        keys = [key for key, answer in list(self._cache.items()) if answer.principal and matches(answer.principal)]
        for key in keys:
            self._cache.pop(key, None)
        return len(keys)


_TOKEN_TYPES = {
    "api": None,  # admin or vendor, decided by scopes and vendor
    "deployment": PrincipalKind.PRINCIPAL_KIND_DEPLOYMENT,
    "run": PrincipalKind.PRINCIPAL_KIND_RUN,
}


def principal_from_rfc7662(body: dict) -> Principal | None:
    """Reads an RFC 7662 introspection response (with our extension fields)."""
    if body.get("active") is not True:
        return None
    token_type = body.get("token_type", "api")
    if token_type not in _TOKEN_TYPES:
        return None
    scopes = frozenset(str(body.get("scope", "")).split())
    kind = _TOKEN_TYPES[token_type] or api_token_kind(bool(body.get("vendor_id")), scopes)
    exp = body.get("exp")
    return Principal(
        token_id=str(body.get("sub", "")),
        kind=kind,
        scopes=scopes,
        vendor_id=str(body.get("vendor_id", "")),
        vendor_slug=str(body.get("vendor_slug", "")),
        vendor_display_name=str(body.get("vendor_display_name", "")),
        deployment_id=str(body.get("deployment_id", "")),
        run_id=str(body.get("run_id", "")),
        expires_at=float(exp) if exp else None,
    )


class RemoteIntrospector:
    """Asks another service's RFC 7662 endpoint (POST, form-encoded `token`, bearer-authenticated)."""

    def __init__(self, url: str, client_token: str, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {client_token}", "Accept": "application/json"}
        import httpx  # only a server introspecting remotely needs it

        self._client = client or httpx.AsyncClient(timeout=5.0)

    async def introspect(self, token: str) -> Principal | None:
        import httpx

        try:
            response = await self._client.post(self._url, data={"token": token}, headers=self._headers)
        except httpx.HTTPError as error:
            raise Unavailable(
                f"the introspection endpoint {self._url} is unreachable ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            raise Unavailable(f"the introspection endpoint {self._url} answered HTTP {response.status_code}")
        try:
            return principal_from_rfc7662(response.json())
        except ValueError:
            raise Unavailable(f"the introspection endpoint {self._url} did not answer JSON") from None

    async def aclose(self) -> None:
        await self._client.aclose()
