"""A fresh install publishes a demo round, from synthetic prices and labelled as such."""

import io
from dataclasses import replace

import grpc
import httpx
import pyarrow.parquet as pq

from mlmp_cli.rounds.features import TARGET
from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.server_thread import ServerThread


def test_a_fresh_server_publishes_a_synthetic_demo_round_once(settings):
    server = ServerThread(replace(settings, demo_round=True)).start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
            admin = bearer(server.admin_token)
            current = datasets.GetCurrentRound(datasets_pb2.GetCurrentRoundRequest(), metadata=admin)
            assert current.number == 1
            assert current.synthetic
            assert "SYNTHETIC" in current.description
            assert all(symbol.startswith("SYN") for symbol in current.symbols)
            assert [f.name for f in current.files] == ["train", "validation", "live"]
            urls = datasets.CreateSignedUrls(datasets_pb2.CreateSignedUrlsRequest(files=["live"]), metadata=admin)
            live = pq.read_table(io.BytesIO(httpx.get(urls.urls[0].url).content)).to_pandas()
            assert len(live) == current.files[2].row_count
            assert live[TARGET].isna().all()
    finally:
        server.stop()
    again = ServerThread(replace(settings, demo_round=True)).start()  # a restart publishes nothing more
    try:
        with grpc.insecure_channel(again.grpc_target) as channel:
            datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
            token = server.admin_token
            listed = datasets.ListRounds(datasets_pb2.ListRoundsRequest(), metadata=bearer(token))
            assert [r.number for r in listed.rounds] == [1]
    finally:
        again.stop()
