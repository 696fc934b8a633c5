"""PublishRoundFromCsv: a round built on the server from uploaded price CSVs, all or nothing, on SQLite and
PostgreSQL. The tests that build (a child process loading pandas) are marked e2e: each takes seconds."""

from __future__ import annotations

import base64
import json

import grpc
import httpx
import pytest
from sqlalchemy import func, select

from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from mlmp_server.datasets import rules
from mlmp_server.datasets.building import ChildBuilder
from mlmp_server.db.models import DatasetFile, DatasetRound
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import csv_publish_request, price_csv

PRICES = {"AAPL.csv": price_csv(0).encode(), "MSFT.csv": price_csv(1).encode()}


@pytest.fixture
def datasets(channel) -> datasets_pb2_grpc.DatasetServiceStub:
    return datasets_pb2_grpc.DatasetServiceStub(channel)


def stored(server) -> tuple[int, int, list]:
    """Rounds and file rows in the database, and the files in the blob store."""

    async def counts():
        async with server.listening.resources.sessions() as session:
            rounds = await session.scalar(select(func.count()).select_from(DatasetRound))
            files = await session.scalar(select(func.count()).select_from(DatasetFile))
            return rounds, files

    blobs = server.listening.resources.blobs.root
    return (*server.run_in_loop(counts), [p for p in blobs.rglob("*") if p.is_file()])


def refused(datasets, admin, files, **header) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRoundFromCsv(csv_publish_request(files, **header), metadata=admin, timeout=60)
    return caught.value


@pytest.mark.e2e
def test_two_csvs_become_a_round_with_the_builders_files(datasets, admin):
    published = datasets.PublishRoundFromCsv(
        csv_publish_request(PRICES, declare=True, description="two symbols"), metadata=admin, timeout=60
    )
    assert published.number == 1
    assert published.state == datasets_pb2.RoundState.ROUND_STATE_OPEN
    assert list(published.symbols) == ["AAPL", "MSFT"]
    assert [f.name for f in published.files] == ["train", "validation", "live"]
    assert {f.format for f in published.files} == {"parquet"}
    assert all(f.row_count > 0 and "target_fwd_ret_5" in f.columns for f in published.files)
    assert published.data_start_time.ToDatetime().date().isoformat() == "2026-01-21"  # after the 20-bar warm-up
    assert published.description == "two symbols"
    assert (published.bar_seconds, published.horizon.seconds) == (86400, 5 * 86400)  # the builder's, from daily bars
    assert not published.synthetic
    closes = published.close_time.ToDatetime() - published.open_time.ToDatetime()
    assert closes.days == 7  # no window given: open now, for 7 days


@pytest.mark.e2e
def test_a_bad_cell_is_refused_with_file_line_and_column_and_nothing_is_published(server, datasets, admin):
    bad = {**PRICES, "MSFT.csv": price_csv(1).replace(",102.4,103.4,", ",102.4,abc,", 1).encode()}
    assert bad["MSFT.csv"] != PRICES["MSFT.csv"]
    error = refused(datasets, admin, bad)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "MSFT.csv line 5, column Close: 'abc' is not a number. Nothing was published."
    assert stored(server) == (0, 0, [])


@pytest.mark.e2e
def test_a_retry_with_the_same_request_id_publishes_once(server, datasets, admin, monkeypatch):
    builds = []
    build = ChildBuilder.run

    async def counted(self, function, *args):
        builds.append(function.__name__)
        return await build(self, function, *args)

    monkeypatch.setattr(ChildBuilder, "run", counted)
    first = datasets.PublishRoundFromCsv(csv_publish_request(PRICES, request_id="r-1"), metadata=admin, timeout=60)
    again = datasets.PublishRoundFromCsv(csv_publish_request(PRICES, request_id="r-1"), metadata=admin, timeout=60)
    assert again == first
    assert builds == ["build_from_csv"]  # the retry is answered from the record, without building again
    assert stored(server)[:2] == (1, 3)
    assert len(stored(server)[2]) == 3  # no second copy of the files either
    other = {"AAPL.csv": PRICES["AAPL.csv"]}
    error = refused(datasets, admin, other, request_id="r-1")  # the same id for other files
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert stored(server)[:2] == (1, 3)


@pytest.mark.e2e
def test_over_rest_the_upload_is_ndjson_with_base64_chunks(server, datasets, admin):
    lines = [{"header": {"requestId": "rest-1", "files": [{"name": n} for n in PRICES], "format": "csv"}}]
    lines += [{"chunk": {"file": n, "data": base64.b64encode(data).decode()}} for n, data in PRICES.items()]
    body = "\n".join(json.dumps(line) for line in lines)
    response = httpx.post(
        f"{server.http_url}/api/admin/rounds:fromCsv", content=body, timeout=60,
        headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["number"] == 1
    assert [f["format"] for f in document["files"]] == ["csv", "csv", "csv"]
    bad = body.replace(base64.b64encode(PRICES["AAPL.csv"]).decode()[:8], base64.b64encode(b"Date,Op!").decode())
    response = httpx.post(
        f"{server.http_url}/api/admin/rounds:fromCsv", content=bad.replace("rest-1", "rest-2"), timeout=60,
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["message"].startswith("AAPL.csv: missing column Open")


# Refused before anything is built: fast.


def test_only_operators_publish_from_csv(datasets, auth, admin):
    vendor = bearer(create_vendor_token(auth, admin).secret)
    error = refused(datasets, vendor, PRICES)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(datasets, bearer("mpk_wrong"), PRICES)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "mpk_wrong" not in error.details()


BROKEN = [
    ([], "nothing was sent"),
    (["chunk"], "the first message must be the header"),
    (["header", "header"], "the header must come once, first"),
    (["header", "stranger"], "bytes for 'NFLX.csv', which the header does not declare"),
    (["twice"], "'AAPL.csv' is listed twice"),
    (["header"], "'AAPL.csv' was declared but no bytes arrived"),
    (["badformat"], "parquet or csv"),
    (["badname"], "a file name such as AAPL.csv"),
]


def test_broken_uploads_are_refused_and_publish_nothing(server, datasets, admin):
    Request = datasets_pb2.PublishRoundFromCsvRequest
    parts = {
        "header": Request(header=Request.Header(files=[Request.CsvFile(name="AAPL.csv")])),
        "twice": Request(header=Request.Header(files=[Request.CsvFile(name="AAPL.csv")] * 2)),
        "badformat": Request(header=Request.Header(files=[Request.CsvFile(name="AAPL.csv")], format="xlsx")),
        "badname": Request(header=Request.Header(files=[Request.CsvFile(name="../etc/passwd")])),
        "chunk": Request(chunk=Request.Chunk(file="AAPL.csv", data=b"x")),
        "stranger": Request(chunk=Request.Chunk(file="NFLX.csv", data=b"x")),
    }
    for messages, message in BROKEN:  # one server for all: each case is refused before anything is built
        with pytest.raises(grpc.RpcError) as caught:
            datasets.PublishRoundFromCsv(iter([parts[m] for m in messages]), metadata=admin, timeout=30)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, messages
        assert message in caught.value.details(), messages
    assert stored(server) == (0, 0, [])


def test_a_damaged_upload_or_one_past_the_size_limit_is_refused(server, datasets, admin, monkeypatch):
    damaged = csv_publish_request(PRICES, declare=True)
    header = next(damaged)
    header.header.files[1].digest.size_bytes += 1
    with pytest.raises(grpc.RpcError) as caught:
        datasets.PublishRoundFromCsv(iter([header, *damaged]), metadata=admin, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "file 'MSFT.csv' arrived damaged" in caught.value.details()
    monkeypatch.setattr(rules, "MAX_CSV_BYTES", len(PRICES["AAPL.csv"]) + 100)
    error = refused(datasets, admin, PRICES)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "pass 0 MiB together" in error.details()
    assert "mp admin rounds publish --from-csv" in error.details()
    assert stored(server) == (0, 0, [])
