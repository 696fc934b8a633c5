"""FeatureStream: the open round's feature rows as bars arrive (FeatureService.StreamFeatures), followed for good.

    publisher = SignalPublisher.from_env()
    for row in FeatureStream.following(publisher):      # same marketplace, same (renewed) token
        score = model.score(row.features)
        publisher.publish({"symbol": row.symbol, "score": score, "roundNumber": row.round_number,
                           "horizon": f"{row.horizon.total_seconds():.0f}s"})

A stream starts with the latest row of each symbol, then one row per symbol for each new bar. Each row names the
round it is for, so a model that signals on `row.round_number` follows the open round by itself. When the stream
breaks (the server restarts, a network cut), it reconnects with back-off and starts again from the latest rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc

from mlmp_cli.publisher.retry import Backoff
from mlmp_marketplace.v1 import features_pb2, features_pb2_grpc

if TYPE_CHECKING:
    from mlmp_cli.publisher.publisher import SignalPublisher

log = logging.getLogger("mp.features")
Metadata = Sequence[tuple[str, str]]


class FeatureStreamUnsupported(RuntimeError):
    """The marketplace has no feature stream (a server older than it): waiting would not help."""


@dataclass(frozen=True)
class LiveFeatures:
    symbol: str
    bar_time: datetime
    round_number: int
    features: dict[str, float]  # name → value, in the round's column order
    horizon: timedelta  # of a signal on this round
    latest: bool  # one of the rows a stream starts with (the newest known), not a new bar's

    @classmethod
    def of(cls, row: features_pb2.FeatureRow) -> LiveFeatures:
        return cls(
            row.symbol, row.bar_time.ToDatetime(tzinfo=UTC), row.round_number,
            {feature.name: feature.value for feature in row.features}, row.horizon.ToTimedelta(), row.latest,
        )  # fmt: skip


class FeatureStream:
    def __init__(
        self,
        target: str,
        metadata: Callable[[], Metadata],
        *,
        secure: bool = False,
        symbols: Sequence[str] = (),
        backoff: Backoff | None = None,
    ) -> None:
        """`metadata`: the current authorization metadata, asked again at each reconnect (a rotated token)."""
        self._target, self._metadata, self._secure, self._symbols = target, metadata, secure, list(symbols)
        self._backoff = backoff or Backoff(first=0.2, ceiling=30.0)
        self._stop = threading.Event()
        self._call: Any = None
        self.connects = 0

    @classmethod
    def following(cls, publisher: SignalPublisher, **options) -> FeatureStream:
        """The stream of the marketplace `publisher` sends to, with its token (renewed when it is)."""
        return cls(publisher.target, publisher.metadata, secure=publisher.secure, **options)

    def __iter__(self) -> Iterator[LiveFeatures]:
        channel = (
            grpc.secure_channel(self._target, grpc.ssl_channel_credentials())
            if self._secure
            else grpc.insecure_channel(self._target)
        )
        stub = features_pb2_grpc.FeatureServiceStub(channel)
        try:
            while not self._stop.is_set():
                request = features_pb2.StreamFeaturesRequest(symbols=self._symbols)
                call = stub.StreamFeatures(request, metadata=self._metadata())
                self._call = call
                self.connects += 1
                try:
                    for row in call:
                        self._backoff.reset()
                        yield LiveFeatures.of(row)
                except grpc.RpcError as error:
                    if self._stop.is_set():
                        return
                    if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                        raise FeatureStreamUnsupported(
                            "this marketplace has no feature stream (FeatureService); upgrade mp-server"
                        ) from error
                    log.warning("the feature stream broke (%s: %s); reconnecting", error.code().name, error.details())
                self._backoff.wait(self._stop)
        finally:
            channel.close()

    def close(self) -> None:
        """Ends the iteration (from another thread): the open call is cancelled."""
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
