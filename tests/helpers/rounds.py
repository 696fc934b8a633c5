"""PublishRound and PublishRoundFromCsv requests built from in-memory files, as the CLI streams them; price CSVs."""

from __future__ import annotations

import hashlib

from mlmp_marketplace.v1 import common_pb2, datasets_pb2


def publish_request(files: dict[str, bytes], *, damage: str = "", chunk: int = 64 * 1024, **header):
    """The header declaring `files`, then their chunks; the file named `damage` is sent with its last byte changed."""
    declared = [
        datasets_pb2.DatasetFile(
            name=name, format="csv",
            digest=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()),
        )
        for name, data in files.items()
    ]  # fmt: skip
    yield datasets_pb2.PublishRoundRequest(header=datasets_pb2.PublishRoundRequest.Header(files=declared, **header))
    for name, data in files.items():
        if name == damage:
            data = data[:-1] + b"!"
        for start in range(0, len(data), chunk):
            yield datasets_pb2.PublishRoundRequest(
                chunk=datasets_pb2.PublishRoundRequest.Chunk(file=name, data=data[start : start + chunk])
            )


def price_csv(offset: int = 0, bars: int = 120) -> str:
    """An OHLCV price file of `bars` daily bars, as `mp admin rounds publish --from-csv` takes it."""
    lines = ["Date,Open,High,Low,Close,Volume"]
    for day in range(bars):
        close = 100 + offset + day * 0.5 + (day % 7) * 0.3
        lines.append(
            f"2026-{1 + day // 28:02d}-{1 + day % 28:02d},{close},{close + 1},{close - 1},{close},{1000 + day}"
        )
    return "\n".join(lines) + "\n"


def csv_publish_request(files: dict[str, bytes], *, chunk: int = 64 * 1024, declare: bool = False, **header):
    """PublishRoundFromCsv's messages: the header naming `files` (with their digests if `declare`), then chunks."""
    declared = [
        datasets_pb2.PublishRoundFromCsvRequest.CsvFile(
            name=name,
            digest=common_pb2.FileDigest(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            if declare
            else None,
        )
        for name, data in files.items()
    ]
    yield datasets_pb2.PublishRoundFromCsvRequest(
        header=datasets_pb2.PublishRoundFromCsvRequest.Header(files=declared, **header)
    )
    for name, data in files.items():
        for start in range(0, len(data), chunk):
            yield datasets_pb2.PublishRoundFromCsvRequest(
                chunk=datasets_pb2.PublishRoundFromCsvRequest.Chunk(file=name, data=data[start : start + chunk])
            )
