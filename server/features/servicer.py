"""FeatureService: the open round's feature rows as bars arrive (server/features/feed.py does the work)."""

from __future__ import annotations

import grpc
from google.protobuf.duration_pb2 import Duration

from mlmp_marketplace.v1 import features_pb2, features_pb2_grpc
from mlmp_server.core.convert import timestamp
from mlmp_server.features.feed import FeatureFeed, RoundRow


class FeatureServicer(features_pb2_grpc.FeatureServiceServicer):
    def __init__(self, feed: FeatureFeed) -> None:
        self._feed = feed

    async def StreamFeatures(self, request, context: grpc.aio.ServicerContext):
        subscription = await self._feed.subscribe(request.symbols)
        await context.send_initial_metadata(())  # subscribed: a gateway client gets its 200 now, not at a first bar
        try:
            async for item in subscription.rows():
                yield feature_row(item)
        finally:
            self._feed.unsubscribe(subscription)


def feature_row(item: RoundRow) -> features_pb2.FeatureRow:
    horizon = Duration()
    horizon.FromTimedelta(item.round.horizon)
    return features_pb2.FeatureRow(
        symbol=item.row.symbol,
        bar_time=timestamp(item.row.time),
        round_number=item.round.number,
        features=[features_pb2.Feature(name=name, value=value) for name, value in item.features],
        horizon=horizon,
        latest=item.latest,
    )
