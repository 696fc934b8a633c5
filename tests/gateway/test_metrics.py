"""`/metrics` on the HTTP port: calls by method and code, HTTP requests by route template (never the
raw path), introspection cache results, signal ingest, the database pool; behind MP_METRICS_TOKEN
when it is set."""

from __future__ import annotations

from dataclasses import replace

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlmp_marketplace.v1 import auth_pb2, auth_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.market import batch, signal
from tests.helpers.server_thread import ServerThread

WHOAMI = "/marketplace.v1.AuthService/WhoAmI"


def scrape(server: ServerThread, **headers: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics: (name, labels) → value."""
    response = httpx.get(server.http_url + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_calls_are_counted_by_method_and_code_with_their_latency(server):
    before = scrape(server)
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    assert httpx.get(server.http_url + "/api/whoami", headers=admin).status_code == 200  # in process
    with grpc.insecure_channel(server.grpc_target) as channel:
        auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(server.admin_token))
        with pytest.raises(grpc.RpcError):
            auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer("mpat_nope"))
    after = scrape(server)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("mp_grpc_calls_total", method=WHOAMI, code="OK") == 2
    assert grew("mp_grpc_calls_total", method=WHOAMI, code="UNAUTHENTICATED") == 1
    assert grew("mp_grpc_call_seconds_count", method=WHOAMI) == 3
    assert grew("mp_grpc_call_seconds_bucket", method=WHOAMI, le="+Inf") == 3
    assert grew("mp_grpc_call_seconds_sum", method=WHOAMI) > 0


def test_http_requests_are_counted_by_route_template_never_by_raw_path(server):
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    before = scrape(server)
    for slug in ("first-unknown", "second-unknown"):
        assert httpx.get(server.http_url + f"/api/catalog/{slug}", headers=admin).status_code == 404
    assert httpx.get(server.http_url + "/api/discovery").status_code == 200
    assert httpx.get(server.http_url + "/no/such/path/at-all").status_code == 404
    response = httpx.get(server.http_url + "/metrics")
    after = scrape(server)

    def grew(route: str, status: str) -> float:
        return value(after, "mp_http_requests_total", route=route, status=status) - value(
            before, "mp_http_requests_total", route=route, status=status
        )

    (template,) = {
        dict(labels)["route"] for name, labels in after
        if name == "mp_http_requests_total" and dict(labels)["route"].startswith("GET /api/catalog/")
    }  # fmt: skip
    assert template == "GET /api/catalog/{vendor}"
    assert grew(template, "404") == 2
    assert grew("GET /api/discovery", "200") == 1
    assert grew("unmatched", "404") == 1
    assert grew("GET /metrics", "200") >= 1
    assert "unknown" not in response.text  # no raw path in any label
    assert "at-all" not in response.text
    assert value(after, "mp_http_request_seconds_count", route=template) >= 2


def test_introspection_cache_hits_misses_and_negative_hits_are_counted(server, auth, admin):
    from tests.helpers.auth import create_vendor_token

    token = create_vendor_token(auth, admin, scopes=("catalog:read",)).secret
    before = scrape(server)
    for secret in (token, token, "mpat_unknown0000", "mpat_unknown0000"):
        with pytest.raises(grpc.RpcError) if secret.startswith("mpat_unknown") else _nothing():
            auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(secret))
    after = scrape(server)

    def grew(result: str) -> float:
        name = "mp_introspection_cache_total"
        return value(after, name, result=result) - value(before, name, result=result)

    assert (grew("miss"), grew("hit"), grew("negative_hit")) == (2, 1, 1)


def test_signal_ingest_counts_signals_batches_and_their_time(server, market):
    deployment = market.deploy()
    before = scrape(server)
    acks = market.stream(deployment.token, [batch(1, signal("AAA"), signal("BBB")), batch(2, signal("CCC"))])
    assert [ack.accepted for ack in acks] == [2, 1]
    after = scrape(server)
    assert value(after, "mp_signals_stored_total") - value(before, "mp_signals_stored_total") == 3
    assert value(after, "mp_signal_batches_total") - value(before, "mp_signal_batches_total") == 2
    assert value(after, "mp_signal_batch_seconds_count") - value(before, "mp_signal_batch_seconds_count") == 2


def test_the_database_pool_is_read_at_each_scrape(server):
    samples = scrape(server)
    expected_size = 10 if server.settings.database_url.startswith("postgresql") else 5  # SQLAlchemy's default
    assert value(samples, "mp_db_pool_size") == expected_size
    assert 0 <= value(samples, "mp_db_pool_checked_out") <= expected_size
    assert value(samples, "mp_db_pool_overflow") == 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def guarded(settings):
    settings = replace(settings, metrics_token="scrape-me-0123456789")
    server = ServerThread(settings).start()
    yield server
    server.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_mp_metrics_token_metrics_need_that_bearer(guarded):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me-0123456789"}):
        refused = httpx.get(guarded.http_url + "/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert "scrape-me" not in refused.text
    assert scrape(guarded, Authorization="Bearer scrape-me-0123456789")
    assert httpx.post(guarded.http_url + "/metrics").status_code == 405


def test_mp_metrics_token_is_read_from_the_environment():
    from mlmp_server.settings import Settings

    assert Settings.from_env({}).metrics_token == ""
    assert Settings.from_env({"MP_METRICS_TOKEN": "scrape-me"}).metrics_token == "scrape-me"
