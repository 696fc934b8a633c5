"""A GET's request is built from its URL once: a repeated URL is answered without parsing its query
again, and every URL still gets its own request; a refused one is refused every time."""

from __future__ import annotations

import httpx
import pytest

from mlmp_server.gateway import app as gateway_app


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The request types the gateway built, in order."""
    seen: list[str] = []
    real = gateway_app.build_request

    def counting(route, path_values, query, body):
        seen.append(route.grpc_path)
        return real(route, path_values, query, body)

    monkeypatch.setattr(gateway_app, "build_request", counting)
    return seen


def test_a_repeated_get_is_built_once_and_each_url_gets_its_own_request(server, built):
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    with httpx.Client(base_url=server.http_url, headers=headers) as client:
        for slug in ("desk-a", "desk-b"):
            assert client.post("/api/admin/vendors", json={"slug": slug, "displayName": slug}).status_code == 200
        built.clear()
        pages = [client.get("/api/catalog?pageSize=1&orderBy=CATALOG_ORDER_NAME") for _ in range(3)]
        assert [page.status_code for page in pages] == [200] * 3
        assert [e["vendor"]["slug"] for e in pages[0].json()["entries"]] == ["desk-a"]
        assert pages[0].content == pages[2].content
        assert built == ["/marketplace.v1.CatalogService/ListCatalog"]
        two = client.get("/api/catalog?pageSize=2&orderBy=CATALOG_ORDER_NAME").json()["entries"]
        assert [e["vendor"]["slug"] for e in two] == ["desk-a", "desk-b"]
        one = client.get("/api/catalog/desk-b").json()
        assert one["vendor"]["slug"] == "desk-b"
        assert len(built) == 3
        for _ in range(2):
            refused = client.get("/api/catalog?pageSize=many")
            assert refused.status_code == 400
        assert len(built) == 5
