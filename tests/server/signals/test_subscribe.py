"""SubscribeSignals through a real server, on SQLite and PostgreSQL: batched messages, and resuming after
an id (stored signals replayed from the database, then live ones) without gap or duplicate."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from sqlalchemy import select

from mlmp_marketplace.v1 import signals_pb2
from mlmp_server.db.models import Signal
from tests.helpers.market import Market, batch, signal
from tests.helpers.subscriptions import Reader


def stored_ids(market: Market, symbol: str = "") -> list[int]:
    async def read():
        query = select(Signal.id).order_by(Signal.id)
        if symbol:
            query = query.where(Signal.symbol == symbol)
        async with market.server.listening.resources.sessions() as session:  # type: ignore[union-attr]
            return list(await session.scalars(query))

    return market.server.run_in_loop(read)


def test_a_batch_arrives_as_one_message(market):
    token = market.deploy().token
    call = market.signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(), metadata=market.admin, timeout=30)
    call.initial_metadata()
    reader = Reader(call)
    try:
        market.stream(token, [batch(1, *(signal(s) for s in ("AAA", "BBB", "CCC", "DDD")))])
        assert len(reader.until(4)) == 4
        assert len(reader.messages) == 1
    finally:
        reader.stop()


def test_resuming_after_an_id_replays_the_stored_then_follows_live_without_gap_or_duplicate(market):
    token = market.deploy().token
    for sequence in range(1, 6):
        market.stream(token, [batch(sequence, signal("AAA"), signal("BBB"))])
    first = stored_ids(market)
    resume_after = first[3]
    # A writer keeps storing while the subscription opens and replays: some signals are committed
    # between the subscription and the replay's read, and reach it both ways.
    writing = threading.Event()
    writing.set()

    def write() -> None:
        sequence = 100
        while writing.is_set():
            market.stream(token, [batch(sequence, signal("AAA"), signal("CCC"))])
            sequence += 1

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(0.2)
    request = signals_pb2.SubscribeSignalsRequest(after_id=str(resume_after))
    call = market.signals.SubscribeSignals(request, metadata=market.admin, timeout=60)
    call.initial_metadata()
    reader = Reader(call)
    try:
        time.sleep(0.5)
        writing.clear()
        writer.join(20)
        expected = [one for one in stored_ids(market) if one > resume_after]
        received = reader.until(len(expected))
        time.sleep(0.2)  # anything more (a duplicate) would arrive now
        received = reader.ids
    finally:
        reader.stop()
    assert len(received) == len(set(received)), "a signal arrived twice"
    assert sorted(received) == expected
    assert received[: len(first) - 4] == first[4:]  # the replay first, oldest first


def test_a_replay_keeps_to_the_filters(market):
    token = market.deploy().token
    market.stream(token, [batch(1, signal("AAA"), signal("BBB"), signal("AAA"))])
    request = signals_pb2.SubscribeSignalsRequest(symbol="AAA", after_id="0")
    call = market.signals.SubscribeSignals(request, metadata=market.acme, timeout=30)
    call.initial_metadata()
    reader = Reader(call)
    try:
        market.stream(token, [batch(2, signal("BBB"), signal("AAA"))])
        received = reader.until(3)
    finally:
        reader.stop()
    assert received == stored_ids(market, "AAA")  # two replayed, one live


@pytest.mark.parametrize("after_id", ["abc", "-1", "1" * 19])
def test_a_bad_after_id_is_refused(market, after_id):
    request = signals_pb2.SubscribeSignalsRequest(after_id=after_id)
    with pytest.raises(grpc.RpcError) as caught:
        next(iter(market.signals.SubscribeSignals(request, metadata=market.admin, timeout=10)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
