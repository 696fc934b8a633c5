"""Rounds stored in an S3-compatible bucket (moto's S3 server on a local port): S3's own presigned
URLs, Range downloads, and nothing left in the bucket after a failed publish."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import replace

import boto3
import grpc
import httpx
import pytest

from mlmp_cli.transfers.download import Wanted, download_all
from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from mlmp_server.settings import S3Settings
from tests.helpers.auth import bearer
from tests.helpers.rounds import publish_request
from tests.helpers.server_thread import ServerThread

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # botocore and moto


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    name = f"mp-{hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]}"
    client.create_bucket(Bucket=name)
    return client, name


def test_rounds_live_in_the_bucket_and_download_from_s3(settings, s3_endpoint, bucket, tmp_path):
    client, name = bucket
    s3 = S3Settings(bucket=name, endpoint_url=s3_endpoint, access_key_id="test", secret_access_key="test")
    server = ServerThread(replace(settings, s3=s3)).start()
    data = os.urandom(150_000)
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = datasets_pb2_grpc.DatasetServiceStub(channel)
            admin = bearer(server.admin_token)
            with pytest.raises(grpc.RpcError):
                stub.PublishRound(publish_request({"train": data}, damage="train"), metadata=admin)
            assert client.list_objects_v2(Bucket=name).get("KeyCount", 0) == 0  # nothing half-published
            stub.PublishRound(publish_request({"train": data}), metadata=admin)
            keys = [item["Key"] for item in client.list_objects_v2(Bucket=name)["Contents"]]
            assert len(keys) == 1
            assert keys[0].startswith("rounds/1/")
            url = stub.CreateSignedUrls(datasets_pb2.CreateSignedUrlsRequest(), metadata=admin).urls[0].url
            assert url.startswith(s3_endpoint)
            assert "X-Amz-Signature" in url
            assert httpx.get(url).content == data
            part = httpx.get(url, headers={"Range": "bytes=100000-"})
            assert part.status_code == 206
            assert part.content == data[100000:]
            # The CLI's downloader on S3's URL: a resume from a .part is a Range request to S3 itself.
            target = tmp_path / "train.csv"
            target.with_name("train.csv.part").write_bytes(data[:60_000])
            wanted = Wanted("train", target, len(data), hashlib.sha256(data).hexdigest(), url)
            [outcome] = download_all([wanted], lambda _name: url, lambda *_: None)
            assert (outcome.status, outcome.resumed_from) == ("resumed", 60_000)
            assert target.read_bytes() == data
    finally:
        server.stop()
