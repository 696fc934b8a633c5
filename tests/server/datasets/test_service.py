"""Dataset rounds over gRPC, and their signed downloads over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select

from mlmp_marketplace.v1 import common_pb2, datasets_pb2, datasets_pb2_grpc
from mlmp_server.db.models import DatasetFile, DatasetRound
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import publish_request

State = datasets_pb2.RoundState


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


@pytest.fixture
def datasets(channel) -> datasets_pb2_grpc.DatasetServiceStub:
    return datasets_pb2_grpc.DatasetServiceStub(channel)


@pytest.fixture
def reader(auth, admin):
    return bearer(create_vendor_token(auth, admin, scopes=("data:read",)).secret)


FILES = {"train": os.urandom(300_000), "live": b"symbol,feature\nAAPL,0.5\n"}


def test_publish_then_read_back_the_manifest(datasets, admin, reader):
    published = datasets.PublishRound(publish_request(FILES, symbols=["AAPL", "MSFT"]), metadata=admin)
    assert published.number == 1
    assert published.state == State.ROUND_STATE_OPEN
    assert {f.name: f.digest.sha256 for f in published.files} == {
        name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()
    }
    current = datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=reader)
    assert current == published
    assert (current.bar_seconds, current.horizon_bars, current.horizon.seconds) == (86400, 5, 432000)  # unsaid: daily
    second = datasets.PublishRound(publish_request({"live": b"x"}, bar_seconds=3600, horizon_bars=4), metadata=admin)
    assert second.number == 2
    assert (second.bar_seconds, second.horizon_bars, second.horizon.seconds) == (3600, 4, 4 * 3600)
    listed = datasets.ListRounds(datasets_pb2.ListRoundsRequest(), metadata=reader)
    assert [r.number for r in listed.rounds] == [2, 1]


def test_publish_is_all_or_nothing(server, datasets, admin):
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRound(publish_request(FILES, damage="live"), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'live' arrived damaged" in caught.value.details()

    async def counts():
        async with server.listening.resources.sessions() as session:
            rounds = await session.scalar(select(func.count()).select_from(DatasetRound))
            files = await session.scalar(select(func.count()).select_from(DatasetFile))
            return rounds, files

    assert server.run_in_loop(counts) == (0, 0)
    blobs = server.listening.resources.blobs.root
    assert [p for p in blobs.rglob("*") if p.is_file()] == []  # nothing staged or stored is left


@pytest.mark.parametrize(
    ("files", "header", "message"),
    [
        ({"Bad Name": b"x"}, {}, "not valid"),
        ({"a": b"x"}, {"close_time": stamp(datetime(2000, 1, 1, tzinfo=UTC))}, "before it opens"),
    ],
)
def test_bad_publishes_are_refused(datasets, admin, files, header, message):
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRound(publish_request(files, **header), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


YEAR_10000 = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) + 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"open_time": Timestamp(seconds=YEAR_10000)}, "header.open_time must lie between 0001-01-01 and 9999-12-31"),
        ({"close_time": Timestamp(seconds=YEAR_10000 * 10)}, "header.close_time must lie between"),
        ({"open_time": Timestamp(seconds=1, nanos=2_000_000_000)}, "header.open_time has nanos 2000000000"),
        ({"data_start_time": Timestamp(seconds=1, nanos=-1)}, "header.data_start_time has nanos -1"),
    ],
)
def test_out_of_range_times_are_invalid_and_publish_nothing(datasets, admin, reader, header, message):
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRound(publish_request({"a": b"x"}, **header), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(message)
    assert not datasets.ListRounds(datasets_pb2.ListRoundsRequest(), metadata=reader).rounds


def test_a_file_declared_twice_is_refused_and_nothing_is_published(datasets, admin, reader):
    data = b"symbol,feature\nAAPL,0.5\n"
    declared = datasets_pb2.DatasetFile(
        name="train",
        format="csv",
        digest=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
    )
    messages = [
        datasets_pb2.PublishRoundRequest(header=datasets_pb2.PublishRoundRequest.Header(files=[declared, declared])),
        datasets_pb2.PublishRoundRequest(chunk=datasets_pb2.PublishRoundRequest.Chunk(file="train", data=data)),
    ]
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRound(iter(messages), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "file 'train' is listed twice"
    assert not datasets.ListRounds(datasets_pb2.ListRoundsRequest(), metadata=reader).rounds


def test_only_operators_publish_and_close(datasets, reader, admin):
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRound(publish_request({"a": b"x"}), metadata=reader)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    datasets.PublishRound(publish_request({"a": b"x"}), metadata=admin)
    with pytest.raises(grpc.RpcError) as caught:
        datasets.CloseRound(datasets_pb2.CloseRoundRequest(number=1), metadata=reader)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_current_falls_back_to_the_latest_round_with_its_state(datasets, admin, reader):
    with pytest.raises(grpc.RpcError) as caught:
        datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=reader)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    datasets.PublishRound(publish_request({"a": b"x"}), metadata=admin)
    future = datetime.now(UTC) + timedelta(days=3)
    datasets.PublishRound(
        publish_request({"a": b"y"}, open_time=stamp(future), close_time=stamp(future + timedelta(days=7))),
        metadata=admin,
    )
    current = datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=reader)
    assert (current.number, current.state) == (1, State.ROUND_STATE_OPEN)
    closed = datasets.CloseRound(datasets_pb2.CloseRoundRequest(number=1), metadata=admin)
    assert closed.state == State.ROUND_STATE_CLOSED
    current = datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=reader)
    assert (current.number, current.state) == (2, State.ROUND_STATE_UPCOMING)
    with pytest.raises(grpc.RpcError) as caught:
        datasets.CloseRound(datasets_pb2.CloseRoundRequest(number=1), metadata=admin)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as caught:
        datasets.GetRound(datasets_pb2.GetRoundRequest(number=9), metadata=reader)
    assert "the latest round is 2" in caught.value.details()


def signed(datasets, reader, **request):
    return datasets.CreateSignedUrls(datasets_pb2.CreateSignedUrlsRequest(**request), metadata=reader)


def test_signed_urls_download_whole_and_in_ranges(datasets, admin, reader):
    datasets.PublishRound(publish_request(FILES), metadata=admin)
    urls = {u.file: u for u in signed(datasets, reader).urls}
    assert set(urls) == {"train", "live"}
    train = urls["train"]
    assert httpx.get(train.url).content == FILES["train"]
    assert httpx.head(train.url).headers["content-length"] == str(len(FILES["train"]))
    part = httpx.get(train.url, headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.content == FILES["train"][1000:]
    left = train.expire_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(minutes=14) < left <= timedelta(minutes=15)


def test_signed_url_requests_are_checked(datasets, admin, reader):
    datasets.PublishRound(publish_request(FILES), metadata=admin)
    with pytest.raises(grpc.RpcError) as caught:
        signed(datasets, reader, files=["nope"])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "it has train, live" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        signed(datasets, reader, expires_in=Duration(seconds=8 * 24 * 3600))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    week = signed(datasets, reader, files=["live"], expires_in=Duration(seconds=7 * 24 * 3600)).urls[0]
    assert httpx.get(week.url).status_code == 200


@pytest.mark.parametrize(
    ("expires_in", "message"),
    [
        (Duration(seconds=10**15), "expires_in must be within ±10,000 years"),
        (
            Duration(seconds=3600, nanos=2_000_000_000),
            "expires_in has nanos 2000000000; they must be within ±999999999, with the sign of the seconds",
        ),
        (Duration(seconds=-60), "expires_in must be at least 1 s, not -60 s"),
        (Duration(seconds=8 * 24 * 3600), "expires_in must be at most 604800 s, not 691200 s"),
    ],
)
def test_out_of_range_expiries_are_invalid_not_internal(datasets, admin, reader, expires_in, message):
    datasets.PublishRound(publish_request(FILES), metadata=admin)
    with pytest.raises(grpc.RpcError) as caught:
        signed(datasets, reader, expires_in=expires_in)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == message


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


def test_tampered_expired_or_wrong_method_urls_get_403(server, datasets, admin, reader):
    datasets.PublishRound(publish_request(FILES), metadata=admin)
    url = signed(datasets, reader, files=["live"]).urls[0].url
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    attempts = [
        _with(url, sig=query["sig"][:-2] + ("AA" if not query["sig"].endswith("AA") else "BB")),
        _with(url, expires=str(int(query["expires"]) + 3600)),  # a longer life, same signature
        _with(url, kid="k0"),
        parts._replace(path=parts.path.replace("live", "train")).geturl(),  # another file, same signature
        parts._replace(query="").geturl(),
    ]
    for attempt in attempts:
        response = httpx.get(attempt)
        assert response.status_code == 403, attempt
        assert "not valid" in response.json()["message"]
    assert httpx.post(url).status_code == 403
    assert httpx.delete(url).status_code == 403
    short = signed(datasets, reader, files=["live"], expires_in=Duration(seconds=1)).urls[0].url
    time.sleep(1.1)
    assert httpx.get(short).status_code == 403


def test_paths_outside_the_store_are_never_read(server, tmp_path):
    platform = server.listening.resources
    secret = server.settings.data_dir / "secret.key"
    assert secret.exists()
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    (platform.blobs.root / "escape").symlink_to(outside)
    for raw_path in (
        "/blobs/../secret.key",
        "/blobs/%2e%2e/secret.key",
        "/blobs/rounds/%2E%2E/%2E%2E/secret.key",
        "/blobs//etc/passwd",
        "/blobs/%2Fetc%2Fpasswd",
        "/blobs/escape",
        "/blobs/.staging/anything",
        "/blobs/a%5C..%5Csecret.key",
    ):
        # Even with a valid signature for exactly that path (as if a key leaked), nothing is served.
        query, _ = platform.signer.sign("GET", raw_path, 60)
        with httpx.Client() as client:
            request = client.build_request("GET", f"{server.http_url}{raw_path}?{query}")
            request.url = request.url.copy_with(raw_path=f"{raw_path}?{query}".encode())
            response = client.send(request)
        assert response.status_code in (403, 404), raw_path
        assert b"private" not in response.content
        assert secret.read_bytes() not in response.content
