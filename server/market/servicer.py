"""MarketService: bars in (PublishBars), bars out (ListBars, ListMarketSymbols)."""

from __future__ import annotations

from mlmp_marketplace.v1 import market_pb2_grpc
from mlmp_server.core.errors import Unimplemented


class MarketServicer(market_pb2_grpc.MarketServiceServicer):
    """A stub until the store lands: the contract is registered, so the server starts and the gateway routes."""

    async def PublishBars(self, request_iterator, context):  # type: ignore[no-untyped-def]
        raise Unimplemented("PublishBars is not implemented yet")

    async def ListBars(self, request, context):  # type: ignore[no-untyped-def]
        raise Unimplemented("ListBars is not implemented yet")

    async def ListMarketSymbols(self, request, context):  # type: ignore[no-untyped-def]
        raise Unimplemented("ListMarketSymbols is not implemented yet")
