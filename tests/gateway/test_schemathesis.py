"""Schemathesis against the live /openapi.json: requests generated for every served operation get no
5xx, and every response matches the document (status, content type, headers, body schema).

Run through its CLI (its pytest plugin does not support pytest 9). Left out:
- SubscribeSignals, a stream that never ends by itself;
- client-streaming operations, whose NDJSON bodies schemathesis cannot generate;
- the two request-strictness checks. Run with them (2026-12-01, after int64 strings got their
  digit pattern), they find nothing the gateway gets wrong: schema-valid requests refused for
  value constraints the document does not carry yet (page_size ≥ 0, slug, scopes, URL, state
  subsets, Duration range), FAILED_PRECONDITION (400 by the transcoding table) for state such as
  an already closed round, and `null` accepted as a field's default (proto3 JSON), which the
  schemas do not show. Wrong types → 400: tests/gateway/test_transcoding.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import Settings, default_database_url
from tests.support import ServerThread

pytestmark = pytest.mark.e2e

SERVED_TAGS = (
    "AuthService", "DatasetService", "TrainingService", "DeploymentService", "SignalService", "CatalogService",
    "Discovery",
)  # fmt: skip
NOT_GENERATED = (
    "DatasetService_PublishRound",  # client streams (NDJSON bodies), which schemathesis cannot build
    "TrainingService_UploadRunArtifact",
    "SignalService_StreamSignals",
    "SignalService_SubscribeSignals",  # never ends by itself
)


def test_no_server_errors_and_responses_match_the_document(tmp_path: Path):
    server = ServerThread(Settings(data_dir=tmp_path, database_url=default_database_url(tmp_path))).start()
    try:
        tags = [arg for tag in SERVED_TAGS for arg in ("--include-tag", tag)]
        tags += [arg for operation in NOT_GENERATED for arg in ("--exclude-operation-id", operation)]
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"), "run", server.http_url + "/openapi.json", *tags,
                "-H", f"Authorization: Bearer {server.admin_token}",
                "--max-examples", "20", "--seed", "20261125", "--no-color",
                "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
                "--report-dir", str(tmp_path / "report"),
            ],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-6000:]
