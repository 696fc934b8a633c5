"""PublishRound requests built from in-memory files, as the CLI streams them."""

from __future__ import annotations

import hashlib

from marketplace.v1 import common_pb2, datasets_pb2


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
