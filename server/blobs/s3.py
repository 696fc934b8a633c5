"""The blob store in an S3-compatible bucket (AWS S3, MinIO, …), through boto3.

Files are staged locally (hashed as they arrive), then uploaded; downloads are S3's own presigned
URLs, so the bytes never pass through mp-server.
"""

from __future__ import annotations

import time
from pathlib import Path

from mlmp_server.blobs.local import StagedWrite, check_key


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        staging: Path,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        prefix: str = "",
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise SystemExit("MP_S3_BUCKET is set, which needs: pip install 'ml-marketplace[server,s3]'") from None
        config = Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "auto"})
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._staging = staging
        self._staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _object(self, key: str) -> str:
        return self._prefix + check_key(key)

    def stage(self) -> StagedWrite:
        import uuid

        return StagedWrite(self._staging / uuid.uuid4().hex)

    def commit(self, staged: StagedWrite, key: str) -> None:
        self._client.upload_file(str(staged.path), self._bucket, self._object(key))
        staged.path.unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._object(key))

    def presigned_url(self, key: str, ttl_seconds: float) -> tuple[str, int] | None:
        url = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self._object(key)}, ExpiresIn=int(ttl_seconds)
        )
        return url, int(time.time() + ttl_seconds)
