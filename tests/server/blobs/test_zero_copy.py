"""A signed download goes out with os.sendfile (zero-copy), whole; a range or HEAD the usual way."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from mlmp_marketplace.v1 import datasets_pb2, datasets_pb2_grpc
from tests.helpers.auth import bearer, create_vendor_token
from tests.helpers.rounds import publish_request

FILES = {"train": os.urandom(3_000_000), "live": b"symbol,feature\nAAPL,0.5\n"}
BIG = {"train": os.urandom(20_000_000), "live": b"symbol,feature\nAAPL,0.5\n"}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes each os.sendfile call of this process sent (the server runs in a thread of it)."""
    counts: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        done = real(out_fd, in_fd, offset, count)
        counts.append(done)
        return done

    monkeypatch.setattr(os, "sendfile", counting)
    return counts


def signed_train_url(channel, auth, admin, files: dict[str, bytes]) -> str:
    datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
    datasets.PublishRound(publish_request(files), metadata=admin)
    reader = bearer(create_vendor_token(auth, admin, scopes=("data:read",)).secret)
    urls = datasets.CreateSignedUrls(datasets_pb2.CreateSignedUrlsRequest(), metadata=reader).urls
    return next(u.url for u in urls if u.file == "train")


def test_a_whole_file_goes_out_by_sendfile_and_a_range_still_works(channel, auth, admin, sent):
    train = signed_train_url(channel, auth, admin, FILES)
    with httpx.Client() as client:  # one kept-alive connection: each answer must end where it should
        whole = client.get(train)
        assert whole.status_code == 200
        assert hashlib.sha256(whole.content).digest() == hashlib.sha256(FILES["train"]).digest()
        assert sum(sent) == len(FILES["train"])
        part = client.get(train, headers={"Range": "bytes=1000-"})
        assert (part.status_code, part.content == FILES["train"][1000:]) == (206, True)
        head = client.head(train)
        assert head.headers["content-length"] == str(len(FILES["train"]))
        again = client.get(train)
        assert again.content == whole.content
    assert sum(sent) == 2 * len(FILES["train"])


def test_a_client_leaving_mid_download_is_no_error(channel, auth, admin, sent, caplog):
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    train = signed_train_url(channel, auth, admin, BIG)
    parts = urlsplit(train)
    with socket.create_connection((parts.hostname, parts.port)) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server's sendfile waits on us
        client.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
        time.sleep(0.2)
    time.sleep(0.5)  # the server notices and ends the response
    assert httpx.get(train).content == BIG["train"]  # and serves the next one whole
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
