"""The CLI's downloader against servers that misbehave or stand in between: a download ends (with the
bytes so far kept for the resume) instead of looping, never appends bytes at the wrong place, never
writes past the manifest's size, resumes a dropped connection, follows redirects and proxies."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from mlmp_cli.transfers import download as download_module
from mlmp_cli.transfers.download import DownloadFailed, Wanted, download_all
from tests.helpers.scripted_http import Reply, Seen, scripted_server

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(autouse=True)
def no_stall_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download_module, "STALL_PAUSE", 0.0)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


def ranged(request: Seen) -> Reply:
    """A correct server: the whole file, or what a Range asks for."""
    found = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", ""))
    if not found:
        return Reply(200, body=DATA)
    start = int(found.group(1))
    return Reply(206, {"Content-Range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"}, DATA[start:])


def wanted_in(folder: Path, url: str) -> Wanted:
    return Wanted("train", folder / "train.csv", len(DATA), SHA, url)


def with_part(folder: Path, size: int) -> Path:
    part = folder / "train.csv.part"
    part.write_bytes(DATA[:size])
    return part


def test_a_server_answering_206_with_empty_bodies_ends_the_download_instead_of_looping(tmp_path: Path):
    part = with_part(tmp_path, 1000)

    def empty(request: Seen) -> Reply:
        return Reply(206, {"Content-Range": f"bytes 1000-{len(DATA) - 1}/{len(DATA)}"}, b"")

    with scripted_server(empty) as server:
        with pytest.raises(DownloadFailed, match="sent no bytes .3 times in a row, at byte 1,000"):
            download_all([wanted_in(tmp_path, server.url + "/f")], lambda _name: server.url + "/f", lambda *_: None)
        assert len(server.seen) == download_module.MAX_STALLS
        assert [r.headers["range"] for r in server.seen] == ["bytes=1000-"] * 3
    assert part.read_bytes() == DATA[:1000]  # kept for the next run


def test_a_server_answering_200_with_an_empty_body_ends_the_download(tmp_path: Path):
    with scripted_server(lambda _request: Reply(200, body=b"")) as server:
        with pytest.raises(DownloadFailed, match="sent no bytes"):
            download_all([wanted_in(tmp_path, server.url + "/f")], lambda _name: server.url + "/f", lambda *_: None)
        assert len(server.seen) == download_module.MAX_STALLS


def test_a_206_from_another_offset_is_refused_and_the_part_is_untouched(tmp_path: Path):
    part = with_part(tmp_path, 5000)

    def from_zero(_request: Seen) -> Reply:
        return Reply(206, {"Content-Range": f"bytes 0-{len(DATA) - 1}/{len(DATA)}"}, DATA)

    with scripted_server(from_zero) as server:
        with pytest.raises(DownloadFailed, match="asked for the bytes from 5,000"):
            download_all([wanted_in(tmp_path, server.url + "/f")], lambda _name: server.url, lambda *_: None)
    assert part.read_bytes() == DATA[:5000]


def test_a_server_sending_more_than_the_manifest_says_is_read_only_up_to_the_size(tmp_path: Path):
    endless = DATA + os.urandom(5_000_000)
    with scripted_server(lambda _request: Reply(200, body=endless)) as server:
        [outcome] = download_all([wanted_in(tmp_path, server.url)], lambda _name: server.url, lambda *_: None)
    assert outcome.status == "downloaded"
    assert (tmp_path / "train.csv").read_bytes() == DATA


def test_a_dropped_connection_resumes_from_the_bytes_that_arrived(tmp_path: Path):
    def drops_once(request: Seen) -> Reply:
        if len(server.seen) == 1:  # promises the whole file, sends a third, hangs up
            return Reply(200, body=DATA[:100_000], content_length=len(DATA))
        return ranged(request)

    with scripted_server(drops_once) as server:
        [outcome] = download_all([wanted_in(tmp_path, server.url + "/f")], lambda _name: server.url, lambda *_: None)
        assert [r.headers.get("range") for r in server.seen] == [None, "bytes=100000-"]
    assert outcome.status == "downloaded"
    assert (tmp_path / "train.csv").read_bytes() == DATA


def test_a_server_that_ignores_the_range_starts_the_file_over(tmp_path: Path):
    with_part(tmp_path, 7000)
    with scripted_server(lambda _request: Reply(200, body=DATA)) as server:
        [outcome] = download_all([wanted_in(tmp_path, server.url + "/f")], lambda _name: server.url, lambda *_: None)
    assert (outcome.status, outcome.resumed_from) == ("downloaded", 0)
    assert (tmp_path / "train.csv").read_bytes() == DATA


def test_redirects_are_followed_with_the_range(tmp_path: Path):
    with_part(tmp_path, 123)

    def moved(request: Seen) -> Reply:
        if request.target.startswith("/old"):
            return Reply(307, {"Location": "/new/train.csv?sig=abc"})
        return ranged(request)

    with scripted_server(moved) as server:
        [outcome] = download_all([wanted_in(tmp_path, server.url + "/old?sig=x%2Fy")], lambda _name: server.url,
                                 lambda *_: None)  # fmt: skip
        assert [(r.target, r.headers.get("range")) for r in server.seen] == [
            ("/old?sig=x%2Fy", "bytes=123-"),  # the signed query goes out byte for byte
            ("/new/train.csv?sig=abc", "bytes=123-"),
        ]
    assert (outcome.status, outcome.resumed_from) == ("resumed", 123)


def test_an_http_proxy_from_the_environment_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with scripted_server(ranged) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url.replace("http://", "http://user:pa%20ss@"))
        url = "http://files.example.invalid:8080/blobs/train.csv?sig=1"
        [outcome] = download_all([wanted_in(tmp_path, url)], lambda _name: url, lambda *_: None)
        [request] = proxy.seen
    assert request.target == url  # a proxy is asked for the whole URL
    assert request.headers["proxy-authorization"] == "Basic dXNlcjpwYSBzcw=="  # user:pa ss
    assert outcome.status == "downloaded"


def test_a_failing_write_ends_the_download_with_the_reason_and_never_lands(tmp_path: Path, monkeypatch):
    def disk_full(_self: object, _block: memoryview) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(download_module._Writer, "_write", disk_full)
    with scripted_server(ranged) as server:
        with pytest.raises(DownloadFailed, match=r"No space left on device\) \(3 times in a row, at byte 0 of"):
            download_all([wanted_in(tmp_path, server.url)], lambda _name: server.url, lambda *_: None)
        assert len(server.seen) == download_module.MAX_STALLS
    assert not (tmp_path / "train.csv").exists()
