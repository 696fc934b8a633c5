"""The CLI's downloader against a real server: expired links are signed again; bad bytes never land."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration

from mlmp_cli.transfers.download import DownloadFailed, Wanted, download_all
from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from tests.helpers.rounds import publish_request

DATA = os.urandom(200_000)


@pytest.fixture
def published(channel, admin):
    stub = datasets_pb2_grpc.DatasetServiceStub(channel)
    stub.PublishRound(publish_request({"train": DATA}), metadata=admin)

    def url(ttl: int = 900) -> str:
        request = datasets_pb2.CreateSignedUrlsRequest(files=["train"], expires_in=Duration(seconds=ttl))
        return stub.CreateSignedUrls(request, metadata=admin).urls[0].url

    return url


def test_an_expired_link_is_signed_again_and_the_download_goes_on(published, tmp_path: Path):
    expired = published(ttl=1)
    time.sleep(1.1)
    resigned: list[str] = []

    def resign(name: str) -> str:
        resigned.append(name)
        return published()

    target = tmp_path / "train.csv"
    wanted = Wanted("train", target, len(DATA), hashlib.sha256(DATA).hexdigest(), expired)
    [outcome] = download_all([wanted], resign, lambda *_: None)
    assert resigned == ["train"]
    assert outcome.status == "downloaded"
    assert target.read_bytes() == DATA


def test_bytes_that_do_not_match_the_manifest_never_land(published, tmp_path: Path):
    target = tmp_path / "train.csv"
    wanted = Wanted("train", target, len(DATA), "0" * 64, published())
    with pytest.raises(DownloadFailed, match="do not match the manifest"):
        download_all([wanted], lambda _name: published(), lambda *_: None)
    assert not target.exists()
    assert not target.with_name("train.csv.part").exists()


def _with(url: str, **params: str) -> str:
    split = urlsplit(url)
    query = {**dict(parse_qsl(split.query)), **params}
    return urlunsplit(split._replace(query=urlencode(query)))


def test_hostile_signature_parameters_are_403_not_a_crash(published):
    url = published()
    expires = dict(parse_qsl(urlsplit(url).query))["expires"]
    for bad in (_with(url, sig="\u00e9" * 43), _with(url, kid="\u00b3"), _with(url, expires="0" + expires),
                _with(url, expires=" " + expires), _with(url, expires="\u0661")):  # fmt: skip
        response = httpx.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["code"] == 7
    assert httpx.get(url).content == DATA


def test_options_on_a_download_link_is_405_with_allow(published):
    response = httpx.options(published())
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["code"] == 12
