"""DeploymentService: deployments, their state and links, and their one token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlmp_marketplace.v1 import deployments_pb2, deployments_pb2_grpc
from mlmp_server.core.clock import Clock, to_datetime
from mlmp_server.core.convert import timestamp
from mlmp_server.core.errors import FailedPrecondition, InvalidArgument, NotFound
from mlmp_server.core.pagination import read_page
from mlmp_server.core.principal import require_principal
from mlmp_server.core.revocation import Revocations
from mlmp_server.core.tokens import TokenDigester, TokenType, new_token
from mlmp_server.db import audit
from mlmp_server.db.idempotency import create_once
from mlmp_server.db.models import Deployment, SignalDestination
from mlmp_server.deployments import deliveries, store
from mlmp_server.deployments import rules as deployments

State = deployments_pb2.DeploymentState
OLD_SIGNAL_LINKS = (1, 2)  # DeploymentLinks' reserved signals_url and signals_target
DELIVERY_STATES = {
    "ok": deployments_pb2.LINK_DELIVERY_STATE_OK,
    "retrying": deployments_pb2.LINK_DELIVERY_STATE_RETRYING,
    "failing": deployments_pb2.LINK_DELIVERY_STATE_FAILING,
}


def state_value(name: str) -> State.ValueType:
    return State.Value(f"DEPLOYMENT_STATE_{name.upper()}")


def state_text(value: State.ValueType) -> str:
    return State.Name(value).removeprefix("DEPLOYMENT_STATE_").lower()


def links_dict(links: deployments_pb2.DeploymentLinks) -> dict[str, str]:
    unknown = UnknownFieldSet(links)
    if any(unknown[index].field_number in OLD_SIGNAL_LINKS for index in range(len(unknown))):  # an older client
        raise InvalidArgument(
            "signals_url and signals_target are no longer links: a deployment's signals go to the marketplace, "
            "which delivers them to the URLs added with AddSignalDestination (`mp link-infra --add URL`)"
        )
    return {field: getattr(links, field) for field in deployments.LINK_FIELDS}


def delivery_proto(destination: SignalDestination) -> deployments_pb2.LinkDelivery:
    return deployments_pb2.LinkDelivery(
        id=destination.id, url=destination.url, state=DELIVERY_STATES[deliveries.state_of(destination)],
        delivered_through=str(destination.delivered_through or ""), last_error=destination.last_error,
        last_attempt_time=timestamp(destination.last_attempt_at), attempts=destination.attempts,
        next_attempt_time=timestamp(destination.next_attempt_at), create_time=timestamp(destination.created_at),
    )  # fmt: skip


def deployment_proto(
    deployment: Deployment,
    now: datetime,
    heartbeat_timeout: timedelta,
    token_hint: str = "",
    destinations: Sequence[SignalDestination] = (),
) -> deployments_pb2.Deployment:
    links = {key: value for key, value in (deployment.links or {}).items() if key in deployments.LINK_FIELDS}
    return deployments_pb2.Deployment(
        id=deployment.id, vendor_id=deployment.vendor_id, run_id=deployment.run_id or "", name=deployment.name,
        provider=deployment.provider, state=state_value(deployments.health_state(deployment, now, heartbeat_timeout)),
        links=deployments_pb2.DeploymentLinks(**links), external_id=deployment.external_id,
        create_time=timestamp(deployment.created_at), update_time=timestamp(deployment.updated_at),
        last_heartbeat_time=timestamp(deployment.last_heartbeat_at), message=deployment.message,
        token_hint=token_hint, last_sequence=deployment.last_sequence, signal_count=deployment.signal_count,
        last_signal_time=timestamp(deployment.last_signal_at),
        deliveries=[delivery_proto(destination) for destination in destinations],
    )  # fmt: skip


class DeploymentServicer(deployments_pb2_grpc.DeploymentServiceServicer):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        digester: TokenDigester,
        clock: Clock,
        heartbeat_timeout: float,
        *,
        revocations: Revocations,
    ) -> None:
        self._sessions = sessions
        self._digester = digester
        self._clock = clock
        self._timeout = timedelta(seconds=heartbeat_timeout)
        self._revocations = revocations  # a revoked token stops working at once, open streams included

    def _now(self) -> datetime:
        return to_datetime(self._clock())

    def _proto(
        self, deployment: Deployment, token_hint: str = "", destinations: Sequence[SignalDestination] = ()
    ) -> deployments_pb2.Deployment:
        return deployment_proto(deployment, self._now(), self._timeout, token_hint, destinations)

    async def CreateDeployment(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        if not principal.vendor_id:
            raise FailedPrecondition("deployments belong to vendors: use a vendor's token")

        async def create(session: AsyncSession, seed: bytes) -> deployments_pb2.CreateDeploymentResponse:
            deployment, secret, token_hint = await deployments.create(
                session, self._digester, vendor_id=principal.vendor_id, run_id=request.run_id, name=request.name,
                provider=request.provider or "local", links=links_dict(request.links),
                external_id=request.external_id, seed=seed, actor=principal.token_id, now=self._now(),
            )  # fmt: skip
            return deployments_pb2.CreateDeploymentResponse(
                deployment=self._proto(deployment, token_hint), token=secret
            )

        def restore(response: deployments_pb2.CreateDeploymentResponse, seed: bytes) -> None:
            response.token = new_token(TokenType.DEPLOYMENT, seed, self._digester.seed_key)

        return await create_once(
            self._sessions, principal_id=principal.token_id, method="CreateDeployment", request=request,
            response_type=deployments_pb2.CreateDeploymentResponse, create=create, clock=self._clock,
            secret_field="token", restore_secret=restore,
        )  # fmt: skip

    async def ListDeployments(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        state = state_text(request.state) if request.state else None
        page = read_page(request.page_size, request.page_token, state, key=store.DEPLOYMENT_KEY)
        async with self._sessions() as session:
            rows = await store.list_deployments(
                session, principal.vendor_id or None, state, self._now() - self._timeout, page.after, page.size + 1
            )
            linked = await store.destinations_of(session, [row.id for row in rows[: page.size]])
        shown = [self._proto(row, destinations=linked[row.id]) for row in rows[: page.size]]
        return deployments_pb2.ListDeploymentsResponse(
            deployments=shown, next_page_token=page.next_token(rows, store.deployment_key)
        )

    async def GetDeployment(self, request, context: grpc.aio.ServicerContext):
        async with self._sessions() as session:
            deployment = await deployments.require(session, request.deployment_id)
            token_hint = await store.token_hint(session, deployment.id)
            linked = await store.destinations_of(session, [deployment.id])
        return self._proto(deployment, token_hint, linked[deployment.id])

    async def _change(
        self, deployment_id: str, action: str, change: Callable[[AsyncSession, Deployment], Awaitable[None]]
    ) -> deployments_pb2.Deployment:
        principal = require_principal()
        async with self._sessions.begin() as session:
            deployment = await deployments.require(session, deployment_id, for_update=True)
            await change(session, deployment)
            audit.record(session, actor=principal.token_id, action=f"deployment.{action}", target=deployment_id,
                         at=self._now())  # fmt: skip
            linked = await store.destinations_of(session, [deployment.id])
        return self._proto(deployment, destinations=linked[deployment.id])

    async def UpdateDeploymentLinks(self, request, context: grpc.aio.ServicerContext):
        given = links_dict(request.links)
        replaced = deployments.replaced_links(given, list(request.update_mask.paths))
        links = deployments.check_links({field: given[field] for field in replaced})

        async def change(_session: AsyncSession, deployment: Deployment) -> None:
            deployments.update_links(deployment, links, replaced, self._now())

        return await self._change(request.deployment_id, "links", change)

    async def AddSignalDestination(self, request, context: grpc.aio.ServicerContext):
        url = deliveries.check_url(request.url)  # before the deployment is looked up: a bad URL says so
        seed = deliveries.new_seed()
        added: list[SignalDestination] = []

        async def change(session: AsyncSession, deployment: Deployment) -> None:
            added.append(await deliveries.link(session, deployment.id, url, seed, self._now()))

        linked = await self._change(request.deployment_id, "destination-add", change)
        (destination,) = added
        secret = deliveries.signing_secret(deliveries.signing_key(self._digester.seed_key), destination.id, seed)
        return deployments_pb2.AddSignalDestinationResponse(
            deployment=linked, destination=delivery_proto(destination), signing_secret=secret
        )

    async def RemoveSignalDestination(self, request, context: grpc.aio.ServicerContext):
        url = deliveries.check_url(request.url)

        async def change(session: AsyncSession, deployment: Deployment) -> None:
            if not await store.unlink_destination(session, deployment.id, url):
                raise NotFound(f"{request.url!r} is not linked to deployment {deployment.id}; "
                               f"`mp deployments status {deployment.id}` lists its destinations")  # fmt: skip

        return await self._change(request.deployment_id, "destination-remove", change)

    async def TransitionDeployment(self, request, context: grpc.aio.ServicerContext):
        if request.state in (State.DEPLOYMENT_STATE_UNSPECIFIED, State.DEPLOYMENT_STATE_UNHEALTHY):
            raise InvalidArgument("state must be starting, live, stopped or failed (unhealthy is the server's view)")
        to = state_text(request.state)

        async def change(_session: AsyncSession, deployment: Deployment) -> None:
            deployments.transition(deployment, to, self._now(), message=request.message,
                                   external_id=request.external_id)  # fmt: skip

        return await self._change(request.deployment_id, "transition", change)

    async def DeleteDeployment(self, request, context: grpc.aio.ServicerContext):
        async def change(session: AsyncSession, deployment: Deployment) -> None:
            await deployments.delete(session, deployment, self._now())

        deleted = await self._change(request.deployment_id, "delete", change)
        self._revocations.deployment_removed(deleted.id)
        return deleted

    async def RotateDeploymentToken(self, request, context: grpc.aio.ServicerContext):
        secret = new_token(TokenType.DEPLOYMENT)
        token_ids: list[str] = []
        token_hint = ""

        async def change(session: AsyncSession, deployment: Deployment) -> None:
            nonlocal token_hint
            revoked, token_hint = await deployments.rotate_token(
                session, self._digester, deployment, secret, self._now()
            )
            token_ids.extend(revoked)

        rotated = await self._change(request.deployment_id, "rotate-token", change)
        for token_id in token_ids:
            self._revocations.token_rotated(token_id)
        rotated.token_hint = token_hint
        return deployments_pb2.CreateDeploymentResponse(deployment=rotated, token=secret)

    async def DeploymentHeartbeat(self, request, context: grpc.aio.ServicerContext):
        principal = require_principal()
        async with self._sessions.begin() as session:
            deployment = await deployments.require(session, principal.deployment_id, for_update=True)
            deployments.heartbeat(deployment, self._now())
        return self._proto(deployment)
