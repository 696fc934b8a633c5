"""Signal ingest through a real server, on SQLite and PostgreSQL: what is stored or rejected (once only),
who sees it, and the scores a resolved round gives."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from mlmp_marketplace.v1 import (
    catalog_pb2,
    datasets_pb2,
    datasets_pb2_grpc,
    deployments_pb2,
    deployments_pb2_grpc,
    signals_pb2,
    signals_pb2_grpc,
)
from mlmp_server.db.models import Signal
from mlmp_server.settings import RateLimit
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.market import SYMBOLS, Market, batch, signal, stored_count
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

State = deployments_pb2.DeploymentState


def test_streamed_signals_are_stored_with_the_tokens_attribution(market):
    created = market.deploy(name="ridge-v1")
    assert created.token.startswith("mpdt_")
    assert created.deployment.state == State.DEPLOYMENT_STATE_PENDING
    acks = market.stream(created.token, [batch(1, signal("AAA"), signal("BBB", action=signals_pb2.ACTION_SELL))])
    assert [(a.sequence, a.committed_sequence, a.accepted, a.duplicate) for a in acks] == [(1, 1, 2, False)]
    listed = market.signals.ListSignals(signals_pb2.ListSignalsRequest(symbol="AAA"), metadata=market.admin)
    (stored,) = listed.signals
    assert stored.attribution.vendor_slug == "acme"
    assert stored.attribution.deployment_id == created.deployment.id
    assert (stored.round_number, stored.score, stored.confidence) == (1, 0.5, pytest.approx(0.8))
    shown = market.deployments.GetDeployment(
        deployments_pb2.GetDeploymentRequest(deployment_id=created.deployment.id), metadata=market.acme
    )
    assert (shown.signal_count, shown.last_sequence) == (2, 1)
    assert shown.token_hint.startswith("mpdt_")
    assert created.token not in str(shown)


def test_bad_signals_are_rejected_one_by_one_and_the_rest_stored(market):
    token = market.deploy().token
    future = Timestamp()
    future.FromSeconds(int(time.time()) + 3600)
    (ack,) = market.stream(
        token,
        [batch(
            1, signal("AAA"), signal("ZZZ"), signal("BBB", score=1.5), signal("CCC", generate_time=future),
            signal("AAA", score=-0.1), signal("DDD", score=None), signal("DDD", round_number=7),
            signal("DDD", confidence=2.0), signal("DDD", action=signals_pb2.ACTION_BUY, score=None),
        )],
    )  # fmt: skip
    assert ack.accepted == 2
    reasons = {r.index: r.reason for r in ack.rejections}
    assert "ZZZ is not a symbol of round 1" in reasons[1]
    assert "outside [-1, 1]" in reasons[2]
    assert "ahead of the server's clock" in reasons[3]
    assert "already in this batch (index 0)" in reasons[4]
    assert "needs an action" in reasons[5]
    assert "there is no round 7; signals go to the open round 1" in reasons[6]
    assert "confidence" in reasons[7]
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7]
    assert stored_count(market.server) == 2


def test_a_row_stored_before_horizons_were_bounded_is_still_listed(market, server):
    from sqlalchemy import update

    token = market.deploy().token
    market.stream(token, [batch(1, signal("AAA"))])

    async def age() -> None:
        async with server.listening.resources.sessions.begin() as session:  # type: ignore[union-attr]
            await session.execute(update(Signal).values(horizon_seconds=1e15))  # as an older server let in

    server.run_in_loop(age)
    (listed,) = market.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=market.admin).signals
    assert listed.horizon.seconds == 315_576_000_000


def test_values_the_api_could_not_return_are_rejected_one_by_one(market):
    """Year 0, nanos past a second, horizons past 100 years (or past protobuf's Duration range), NaN,
    strings a column cannot hold: each is a rejection of its own signal, and the listing stays readable."""
    token = market.deploy().token

    def horizon(seconds: int, nanos: int = 0) -> Duration:
        return Duration(seconds=seconds, nanos=nanos)

    huge = "A" * 100_000
    bad = [
        signal("BBB", generate_time=Timestamp(seconds=-62_198_755_200)),  # 0000-01-01
        signal("BBB", generate_time=Timestamp(seconds=1_700_000_000, nanos=1_000_000_000)),
        signal("BBB", horizon=horizon(315_576_000_001)),
        signal("BBB", horizon=horizon(101 * 365 * 86_400)),
        signal("BBB", horizon=horizon(60, 1_000_000_000)),
        signal("BBB", score=float("nan")),
        signal("BBB", confidence=float("inf")),
        signal(huge),
        signal("BBB", model_version="v" * 65),
        signal("BBB", model_version="v1\x00"),
    ]
    (ack,) = market.stream(token, [batch(1, signal("AAA", horizon=horizon(3600)), *bad, signal("CCC"))])
    assert ack.accepted == 2
    reasons = {r.index: r.reason for r in ack.rejections}
    assert sorted(reasons) == list(range(1, len(bad) + 1))
    assert "0001-01-01" in reasons[1]
    assert "nanos" in reasons[2]
    assert all("100 years" in reasons[i] for i in (3, 4))
    assert "horizon.nanos" in reasons[5]
    assert "score nan" in reasons[6]
    assert "confidence inf" in reasons[7]
    assert "longer than 32 characters" in reasons[8]
    assert all(len(r.reason) < 200 and len(r.symbol) <= 32 for r in ack.rejections)  # never echoes 100 KB
    assert "longer than 64" in reasons[9]
    assert "printable" in reasons[10]
    assert stored_count(market.server) == 2
    listed = httpx.get(f"{market.server.http_url}/api/signals", headers={"Authorization": market.admin[0][1]})
    assert listed.status_code == 200, listed.text
    assert sorted(s["symbol"] for s in listed.json()["signals"]) == ["AAA", "CCC"]


def test_a_resent_batch_is_stored_once(market):
    token = market.deploy().token
    first = market.stream(token, [batch(1, signal("AAA")), batch(2, signal("BBB"), signal("CCC"))])
    again = market.stream(token, [batch(2, signal("BBB"), signal("CCC")), batch(3, signal("DDD"))])
    assert [a.duplicate for a in first + again] == [False, False, True, False]
    assert again[0].accepted == 2  # the first delivery's count
    assert stored_count(market.server) == 4
    posted = market.signals.StoreSignals(
        signals_pb2.StoreSignalsRequest(sequence=3, signals=[signal("DDD")]), metadata=bearer(token)
    )
    assert posted.duplicate
    assert stored_count(market.server) == 4


def test_publishers_of_one_deployment_number_their_batches_independently(market):
    token = market.deploy().token
    one = market.stream(
        token, [batch(1, signal("AAA"), publisher_id="one"), batch(2, signal("BBB"), publisher_id="one")]
    )
    two = market.stream(
        token, [batch(1, signal("CCC"), publisher_id="two"), batch(2, signal("DDD"), publisher_id="two")]
    )
    again = market.stream(token, [batch(2, signal("BBB"), publisher_id="one")])
    assert [(a.accepted, a.duplicate) for a in one + two + again] == [(1, False)] * 4 + [(1, True)]
    posted = market.signals.StoreSignals(
        signals_pb2.StoreSignalsRequest(sequence=1, signals=[signal("AAA")], publisher_id="three"),
        metadata=bearer(token),
    )
    assert (posted.accepted, posted.duplicate) == (1, False)
    assert stored_count(market.server) == 5


@pytest.mark.parametrize(
    ("sequence", "publisher_id", "message"),
    [(2**53 + 1, "", "outside 0..2^53"), (2**63 - 1, "", "outside 0..2^53"), (1, "x" * 65, "1 to 64 of"),
     (1, "a b", "1 to 64 of")],
)  # fmt: skip
def test_a_batch_with_a_bad_sequence_or_publisher_is_refused_whole(market, sequence, publisher_id, message):
    token = market.deploy().token
    with pytest.raises(grpc.RpcError) as caught:
        market.stream(token, [batch(sequence, signal("AAA"), publisher_id=publisher_id)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        market.signals.StoreSignals(
            signals_pb2.StoreSignalsRequest(sequence=sequence, signals=[signal("AAA")], publisher_id=publisher_id),
            metadata=bearer(token),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stored_count(market.server) == 0


def test_subscribers_get_new_signals_that_match_their_filters(market):
    token = market.deploy().token
    received: queue.Queue = queue.Queue()
    call = market.signals.SubscribeSignals(signals_pb2.SubscribeSignalsRequest(symbol="BBB"), metadata=market.admin)

    def read():
        try:
            for message in call:
                for item in message.signals:
                    received.put(item)
        except grpc.RpcError:
            pass  # the cancel below ends the call

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 10
    while not received.qsize() and time.time() < deadline:
        market.stream(token, [batch(int(time.time() * 1000), signal("AAA"), signal("BBB"))])
        time.sleep(0.2)
    got = received.get(timeout=5)
    call.cancel()
    assert got.symbol == "BBB"
    assert got.attribution.vendor_slug == "acme"
    assert got.id


def test_list_pages_newest_first_and_vendors_see_only_their_own(market, auth, admin):
    token = market.deploy().token
    for sequence in range(1, 4):
        market.stream(token, [batch(sequence, signal("AAA"), signal("BBB"))])
    first = market.signals.ListSignals(signals_pb2.ListSignalsRequest(page_size=4), metadata=market.admin)
    rest = market.signals.ListSignals(
        signals_pb2.ListSignalsRequest(page_size=4, page_token=first.next_page_token), metadata=market.admin
    )
    for token, symbol in ((first.next_page_token, "AAA"), ("not-a-token", "")):
        with pytest.raises(grpc.RpcError) as caught:  # another filter's token, or none of ours
            market.signals.ListSignals(signals_pb2.ListSignalsRequest(symbol=symbol, page_token=token),
                                       metadata=market.admin)  # fmt: skip
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ids = [int(s.id) for s in [*first.signals, *rest.signals]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 6
    assert not rest.next_page_token
    other = bearer(create_vendor_token(auth, admin, slug="zeta", scopes=("signals:read",)).secret)
    assert not market.signals.ListSignals(signals_pb2.ListSignalsRequest(), metadata=other).signals
    with pytest.raises(grpc.RpcError) as caught:
        market.signals.ListSignals(signals_pb2.ListSignalsRequest(vendor="acme"), metadata=other)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def resolve(market: Market, returns: dict[str, float], number: int = 1) -> datasets_pb2.Round:
    request = datasets_pb2.ResolveRoundRequest(
        number=number, returns=[datasets_pb2.SymbolReturn(symbol=s, realized_return=r) for s, r in returns.items()]
    )
    return market.datasets.ResolveRound(request, metadata=market.admin)


def test_resolving_a_round_scores_the_deployments_in_the_catalog(market):
    good, bad = market.deploy(name="good"), market.deploy(name="bad")
    market.stream(
        good.token, [batch(1, *(signal(s, score=v) for s, v in zip(SYMBOLS, [0.9, 0.1, -0.2, -0.8], strict=False)))]
    )
    market.stream(
        bad.token, [batch(1, *(signal(s, score=v) for s, v in zip(SYMBOLS, [-0.9, -0.1, 0.2, 0.8], strict=False)))]
    )
    before = market.catalog.GetCatalogEntry(catalog_pb2.GetCatalogEntryRequest(vendor="acme"), metadata=market.acme)
    assert {m.name: m.HasField("live_score") for m in before.models} == {"good": False, "bad": False}
    resolved = resolve(market, {"AAA": 0.05, "BBB": 0.01, "CCC": -0.02, "DDD": -0.04})
    assert resolved.state == datasets_pb2.ROUND_STATE_RESOLVED
    entry = market.catalog.ListCatalog(catalog_pb2.ListCatalogRequest(), metadata=market.acme).entries[0]
    scores = {m.name: (round(m.live_score, 2), m.scored_rounds) for m in entry.models}
    assert scores["good"][0] > 0.9
    assert scores["bad"][0] < -0.9
    assert scores["good"][1] == 1
    assert (entry.signal_count, list(entry.rounds_entered), entry.vendor.slug) == (8, [1], "acme")
    (ack,) = market.stream(good.token, [batch(2, signal("AAA"))])
    assert "round 1 is resolved" in ack.rejections[0].reason or "no round is open" in ack.rejections[0].reason


def test_bad_resolutions_are_refused_and_change_nothing(market):
    for returns, message in [
        ({"AAA": 0.1}, "missing: BBB, CCC, DDD"),
        ({**dict.fromkeys(SYMBOLS, 0.0), "ZZZ": 1.0}, "not symbols of round 1: ZZZ"),
        ({**dict.fromkeys(SYMBOLS, 0.0), "AAA": float("nan")}, "finite"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            resolve(market, returns)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in caught.value.details()
    resolve(market, dict.fromkeys(SYMBOLS, 0.01))
    with pytest.raises(grpc.RpcError) as caught:
        resolve(market, dict.fromkeys(SYMBOLS, 0.02))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_fast_stream_is_told_to_slow_down_and_loses_nothing(settings):
    # 200 signals against a burst of 100 refilled at 25/s: in debt unless the 50 batches take over
    # 4 s, which even a loaded machine does not (at 200/s, a busy one sometimes never got there).
    server = ServerThread(replace(settings, signal_rate=RateLimit(per_second=25, burst=100))).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            from mlmp_marketplace.v1 import auth_pb2_grpc

            admin = bearer(server.admin_token)
            datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
                publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=admin
            )
            acme = bearer(create_vendor_token(auth_pb2_grpc.AuthServiceStub(channel), admin).secret)
            token = (
                deployments_pb2_grpc.DeploymentServiceStub(channel)
                .CreateDeployment(deployments_pb2.CreateDeploymentRequest(provider="local"), metadata=acme)
                .token
            )
            batches = [batch(n, *(signal(s) for s in SYMBOLS)) for n in range(1, 51)]  # 200 signals
            acks = list(
                signals_pb2_grpc.SignalServiceStub(channel).StreamSignals(iter(batches), metadata=bearer(token))
            )
            assert sum(a.accepted for a in acks) == 200
            slowed = [a for a in acks if a.HasField("slow_down")]
            assert slowed
            assert slowed[-1].slow_down.ToNanoseconds() > 0
            assert stored_count(server) == 200
    finally:
        server.stop()
