"""Deployments: a vendor's model serving somewhere, its lifecycle, links and its one token.

pending → starting → live → stopped | failed; a stopped or failed deployment may start again.
`live` is set by the provider once the deployment's /ping answered 200. Health is derived, not
stored: a live deployment whose last heartbeat is older than the allowed interval shows as
unhealthy, and is live again with its next heartbeat.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from mlmp_server.core.errors import FailedPrecondition, InvalidArgument, NotFound
from mlmp_server.core.ids import new_id
from mlmp_server.core.tokens import TokenDigester, TokenType, hint, new_token
from mlmp_server.db import audit
from mlmp_server.db.models import Deployment, DeploymentToken
from mlmp_server.deployments import store
from mlmp_server.signals import scoring
from mlmp_server.training import store as run_store
from mlmp_server.training.rules import PROVIDERS

STATES = ("pending", "starting", "live", "stopped", "failed")
TRANSITIONS = {
    "pending": frozenset({"starting", "live", "stopped", "failed"}),
    "starting": frozenset({"live", "stopped", "failed"}),
    "live": frozenset({"stopped", "failed"}),
    "stopped": frozenset({"starting"}),
    "failed": frozenset({"starting", "stopped"}),
}
WRITABLE = frozenset({"pending", "starting", "live"})  # states in which signals are taken
ENDED = frozenset({"stopped", "failed"})
LINK_FIELDS = ("endpoint_url",)  # signals always go to the marketplace (see server/deployments/deliveries.py)


def health_state(deployment: Deployment, now: datetime, heartbeat_timeout: timedelta) -> str:
    if deployment.state != "live":
        return deployment.state
    last = deployment.last_heartbeat_at or deployment.updated_at
    return "unhealthy" if now - last > heartbeat_timeout else "live"


def replaced_links(given: dict[str, str], mask: list[str]) -> set[str]:
    """The links an update replaces: those its mask names ("*": all), or without a mask those it sets."""
    if not mask:
        return {field for field, value in given.items() if value}
    if "*" in mask:
        return set(LINK_FIELDS)
    unknown = sorted(set(mask) - set(LINK_FIELDS))
    if unknown:
        raise InvalidArgument(f"update_mask names {', '.join(unknown)}, which is not a link; links: "
                              f"{', '.join(LINK_FIELDS)}")  # fmt: skip
    return set(mask)


def check_links(links: dict[str, str]) -> dict[str, str]:
    """The links with empty ones dropped; a clear error for a malformed one."""
    links = {key: value.strip() for key, value in links.items() if value and value.strip()}
    if "endpoint_url" in links:
        parts = urlsplit(links["endpoint_url"])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidArgument(f"endpoint_url {links['endpoint_url']!r} is not a http/https URL such as "
                                  "http://host:8080")  # fmt: skip
    return links


def issue_token(session: AsyncSession, digester: TokenDigester, deployment_id: str, secret: str, now: datetime) -> str:
    store.add_token(
        session,
        DeploymentToken(id=new_id("dtk"), digest=digester.digest(secret), hint=hint(secret),
                        deployment_id=deployment_id, created_at=now),
    )  # fmt: skip
    return hint(secret)


async def rotate_token(
    session: AsyncSession, digester: TokenDigester, deployment: Deployment, secret: str, now: datetime
) -> tuple[list[str], str]:
    """Revokes the deployment's tokens and issues `secret` instead: the revoked ids and the new hint."""
    revoked = await store.active_token_ids(session, deployment.id)
    await store.revoke_tokens(session, deployment.id, now)
    return revoked, issue_token(session, digester, deployment.id, secret, now)


async def create(
    session: AsyncSession,
    digester: TokenDigester,
    *,
    vendor_id: str,
    run_id: str,
    name: str,
    provider: str,
    links: dict[str, str],
    external_id: str,
    seed: bytes,
    actor: str,
    now: datetime,
) -> tuple[Deployment, str, str]:
    """The new deployment, its token (derived from `seed`, so a retried create returns the same one) and hint."""
    if provider not in PROVIDERS:
        raise InvalidArgument(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
    if run_id:
        run = await run_store.get_run(session, run_id)
        if run is None or run.vendor_id != vendor_id:
            raise NotFound(f"no training run {run_id!r} of yours; `mp train list` shows them")
        if run.state != "succeeded":
            raise FailedPrecondition(f"run {run_id} is {run.state}; only a succeeded run's model can be deployed")
    name = name.strip() or (f"{run_id}-{provider}" if run_id else provider)
    if len(name) > 200:
        raise InvalidArgument("name must be at most 200 characters")
    deployment = Deployment(
        id=new_id("dep"), vendor_id=vendor_id, run_id=run_id or None, name=name, provider=provider,
        state="pending", links=check_links(links), external_id=external_id, message="", created_at=now,
        updated_at=now, signal_count=0, last_sequence=0,
    )  # fmt: skip
    await store.add_deployment(session, deployment)
    secret = new_token(TokenType.DEPLOYMENT, seed, digester.seed_key)
    token_hint = issue_token(session, digester, deployment.id, secret, now)
    audit.record(session, actor=actor, action="deployment.create", target=deployment.id, at=now, provider=provider)
    return deployment, secret, token_hint


async def require(session: AsyncSession, deployment_id: str, *, for_update: bool = False) -> Deployment:
    """The deployment, unless deleted (whether the caller may reach it, the ownership interceptor checked before)."""
    deployment = await store.get_deployment(session, deployment_id, for_update=for_update)
    if deployment is None:
        raise NotFound(f"no deployment {deployment_id!r}; `mp deployments list` shows yours")
    return deployment


def _enter(deployment: Deployment, to: str, now: datetime) -> None:
    """The one way a deployment changes state."""
    if to not in STATES:
        raise InvalidArgument(f"state must be one of {', '.join(STATES)}")
    if to != deployment.state and to not in TRANSITIONS[deployment.state]:
        raise FailedPrecondition(f"deployment {deployment.id} is {deployment.state}; it cannot become {to}")
    deployment.state = to
    deployment.updated_at = now


def transition(deployment: Deployment, to: str, now: datetime, *, message: str = "", external_id: str = "") -> None:
    _enter(deployment, to, now)
    deployment.message = message
    if external_id:
        deployment.external_id = external_id
    if to == "live":
        deployment.last_heartbeat_at = now  # the provider's /ping just answered


def update_links(deployment: Deployment, links: dict[str, str], replaced: set[str], now: datetime) -> None:
    """Replaces the links named in `replaced` with those of `links` (checked by check_links)."""
    kept = {field: value for field, value in (deployment.links or {}).items() if field not in replaced}
    deployment.links = {**kept, **links}
    deployment.updated_at = now


def heartbeat(deployment: Deployment, now: datetime) -> Deployment:
    deployment.last_heartbeat_at = now
    return deployment


async def delete(session: AsyncSession, deployment: Deployment, now: datetime) -> None:
    """Revokes its tokens and stops it; its signals stay, and still count for its vendor."""
    await store.revoke_tokens(session, deployment.id, now)
    deployment.deleted_at = deployment.updated_at = now
    if deployment.state not in ENDED:
        _enter(deployment, "stopped", now)
    await session.flush()
    await scoring.refresh_score_ranks(session, [deployment.vendor_id])  # its live score no longer counts
