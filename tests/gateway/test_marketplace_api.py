"""The marketplace's own API through the gateway, as the trading frontend calls it."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from openapi_spec_validator import validate

from mlmp_server.settings import RateLimit
from tests.helpers.server_thread import ServerThread

# The paths the frontend already calls, with the scope each needs.
SEED_PATHS = [
    ("GET", "/api/catalog", "catalog:read"),
    ("GET", "/api/rounds/current", "data:read"),
    ("POST", "/api/datasets/signed-urls", "data:read"),
    ("GET", "/api/training/runs", "training:read"),
    ("POST", "/api/training/runs", "training:write"),
]


@pytest.fixture
def settings(settings):
    return replace(
        settings,
        cors_origins=("https://trade.example.com",),
        rate_limits={**settings.rate_limits, "read": RateLimit(per_second=0.01, burst=3)},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def vendor_token(server: ServerThread, scopes: list[str]) -> str:
    """Made through the REST API itself: an operator creating a vendor and its token."""
    admin = bearer(server.admin_token)
    httpx.post(server.http_url + "/api/admin/vendors", json={"slug": "acme", "displayName": "Acme"}, headers=admin)
    response = httpx.post(
        server.http_url + "/api/admin/tokens", json={"vendor": "acme", "scopes": scopes}, headers=admin
    )
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def call(server: ServerThread, method: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
    return httpx.request(method, server.http_url + path, headers=bearer(token) if token else {}, **kwargs)


@pytest.mark.parametrize(("method", "path", "scope"), SEED_PATHS)
def test_seed_paths_refuse_missing_tokens_and_missing_scopes(server, method, path, scope):
    anonymous = call(server, method, path, json={} if method == "POST" else None)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.json()["code"] == 16
    token = vendor_token(server, scopes=["signals:read"])
    refused = call(server, method, path, token, json={} if method == "POST" else None)
    assert refused.status_code == 403
    assert scope in refused.json()["message"]


def test_signals_store_takes_only_deployment_tokens(server):
    token = vendor_token(server, scopes=["deploy:write"])
    response = call(server, "POST", "/api/signals/store", token, json={"signals": []})
    assert response.status_code == 403
    assert "vendor token cannot call StoreSignals" in response.json()["message"]
    assert call(server, "POST", "/api/signals/store", json={"signals": []}).status_code == 401


def test_a_malformed_body_without_a_token_is_401_not_400(server):
    anonymous = call(server, "POST", "/api/signals/store", json={"signals": [], "sequence": ""})
    assert anonymous.status_code == 401
    token = vendor_token(server, scopes=["deploy:write"])
    assert call(server, "POST", "/api/signals/store", token, json={"sequence": ""}).status_code == 400


def test_over_the_rate_limit_is_429_with_retry_after(server):
    token = vendor_token(server, scopes=["catalog:read"])
    statuses = [call(server, "GET", "/api/whoami", token) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    limited = statuses[3]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["details"][0]["@type"].endswith("google.rpc.RetryInfo")


def test_whoami_and_admin_calls_answer_json(server):
    admin = bearer(server.admin_token)
    created = httpx.post(
        server.http_url + "/api/admin/vendors",
        json={"slug": "acme", "display_name": "Acme Quant", "requestId": "r-1"},
        headers=admin,
    )
    assert created.status_code == 200
    again = httpx.post(
        server.http_url + "/api/admin/vendors", json={"slug": "acme", "displayName": "Acme Quant", "requestId": "r-1"},
        headers=admin,
    )  # fmt: skip
    assert again.json()["id"] == created.json()["id"]
    duplicate = httpx.post(
        server.http_url + "/api/admin/vendors", json={"slug": "acme", "displayName": "X"}, headers=admin
    )
    assert duplicate.status_code == 409
    listed = httpx.get(server.http_url + "/api/admin/vendors?pageSize=10", headers=admin).json()
    assert [v["slug"] for v in listed["vendors"]] == ["acme"]
    me = httpx.get(server.http_url + "/api/whoami", headers=admin).json()
    assert me["kind"] == "PRINCIPAL_KIND_ADMIN"


def test_cors_preflight_for_the_frontends_origin_only(server):
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(
        server.http_url + "/api/catalog", headers={"Origin": "https://trade.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://trade.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = httpx.options(server.http_url + "/api/catalog", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
    simple = httpx.get(server.http_url + "/api/whoami", headers={"Origin": "https://trade.example.com"})
    assert simple.headers["access-control-allow-origin"] == "https://trade.example.com"


def test_openapi_document_is_valid_and_describes_the_api(server):
    document = httpx.get(server.http_url + "/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.")
    for method, path, _scope in SEED_PATHS:
        assert method.lower() in document["paths"][path]
    assert document["paths"]["/api/discovery"]["get"]["security"] == []
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert "Status" in document["components"]["schemas"]
    runs = document["paths"]["/api/training/runs/{run_id}:cancel"]["post"]
    assert runs["parameters"][0] == {
        "name": "run_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 64, "minLength": 1},
        "description": "The run to cancel.",
    }
    subscribe = document["paths"]["/api/signals:subscribe"]["get"]["responses"]["200"]["content"]
    assert "application/x-ndjson" in subscribe
    page = httpx.get(server.http_url + "/docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "/api/catalog" in page.text


def test_discovery_is_public(server):
    body = httpx.get(server.http_url + "/api/discovery").json()
    assert body["grpcTarget"] == server.grpc_target
    assert body["apiVersion"] == "v1"


def test_unparseable_paths_get_the_json_404(server):
    response = httpx.post(server.http_url + "/api/training/runs/%0Abad/metrics", json={})
    assert response.status_code == 404
    assert response.json()["code"] == 5
