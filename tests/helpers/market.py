"""A market to deploy and trade signals in, through a real server: the stubs a deployment's life needs,
the operator's and a vendor's metadata, and builders of signals and batches."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from sqlalchemy import func, select

from mlmp_marketplace.v1 import (
    catalog_pb2_grpc,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)
from mlmp_server.db.models import Signal
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]  # the symbols of the market's round


@dataclass
class Market:
    server: ServerThread
    deployments: deployments_pb2_grpc.DeploymentServiceStub
    signals: signals_pb2_grpc.SignalServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    datasets: datasets_pb2_grpc.DatasetServiceStub
    admin: tuple
    acme: tuple  # the vendor's token

    @classmethod
    def over(cls, server: ServerThread, channel: grpc.Channel, admin: tuple, acme: tuple) -> Market:
        return cls(
            server, deployments_pb2_grpc.DeploymentServiceStub(channel), signals_pb2_grpc.SignalServiceStub(channel),
            catalog_pb2_grpc.CatalogServiceStub(channel), datasets_pb2_grpc.DatasetServiceStub(channel), admin, acme,
        )  # fmt: skip

    def deploy(self, who=None, **fields) -> deployments_pb2.CreateDeploymentResponse:
        request = deployments_pb2.CreateDeploymentRequest(provider="local", **fields)
        return self.deployments.CreateDeployment(request, metadata=who or self.acme)

    def stream(self, token: str, batches: list[signals_pb2.SignalBatch]) -> list[signals_pb2.SignalAck]:
        return list(self.signals.StreamSignals(iter(batches), metadata=bearer(token), timeout=20))


def signal(symbol: str, score: float | None = 0.5, **fields) -> signals_pb2.Signal:
    return signals_pb2.Signal(symbol=symbol, score=score, confidence=fields.pop("confidence", 0.8), **fields)


def batch(sequence: int, *signals: signals_pb2.Signal, publisher_id: str = "") -> signals_pb2.SignalBatch:
    return signals_pb2.SignalBatch(sequence=sequence, signals=signals, publisher_id=publisher_id)


def stored_count(server: ServerThread) -> int:
    """How many signals the server has stored."""

    async def count():
        async with server.listening.resources.sessions() as session:  # type: ignore[union-attr]
            return await session.scalar(select(func.count()).select_from(Signal))

    return server.run_in_loop(count)
