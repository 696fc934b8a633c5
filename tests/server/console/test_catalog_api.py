"""What the console's catalog asks of ListCatalog, on SQLite and PostgreSQL: search words, a model
state, an order, and pages that keep them."""

from __future__ import annotations

import grpc
import httpx
import pytest

from mlmp_marketplace.v1 import datasets_pb2_grpc
from tests.helpers.auth import bearer
from tests.helpers.console import Api
from tests.helpers.rounds import publish_request

SYMBOLS = ["AAA", "BBB"]


@pytest.fixture
def rest(server) -> Api:
    return Api(server.http_url, server.admin_token)


def names(rest: Api, **query) -> list[str]:
    path = "/api/catalog?" + "&".join(f"{key}={value}" for key, value in query.items())
    return [entry["vendor"]["displayName"] for entry in rest.call("GET", path)["entries"]]


def market(server, rest: Api) -> dict[str, tuple[str, str, str]]:
    """Three vendors: slug → (vendor token, deployment id, deployment token)."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        datasets_pb2_grpc.DatasetServiceStub(channel).PublishRound(
            publish_request({"train": b"x"}, symbols=SYMBOLS), metadata=bearer(server.admin_token)
        )
    made = {}
    for slug, display, model in [("zeta", "Zeta Quant", "Momentum"), ("acme", "acme_labs", "Carry 100%"),
                                 ("mid", "Mid Street", "Pairs")]:  # fmt: skip
        vendor_token = rest.vendor(slug, display, scopes=("deploy:write",))
        made[slug] = (vendor_token, *rest.deployment(vendor_token, model))
    return made


def test_search_matches_every_word_in_slugs_names_and_model_names(server, rest: Api):
    market(server, rest)
    assert names(rest, query="momentum") == ["Zeta Quant"]
    assert names(rest, query="QUANT%20zeta") == ["Zeta Quant"]
    assert names(rest, query="100%25") == ["acme_labs"]  # % is a character, not a wildcard
    assert names(rest, query="a_q") == []  # and so is _ ("zeta quant" would match it as a wildcard)
    assert names(rest, query="nobody") == []


def test_state_keeps_vendors_with_a_model_in_it(server, rest: Api):
    made = market(server, rest)
    vendor_token, deployment_id, _ = made["mid"]
    for state in ("STARTING", "LIVE"):
        rest.call("POST", f"/api/deployments/{deployment_id}:transition", {"state": f"DEPLOYMENT_STATE_{state}"},
                  token=vendor_token)  # fmt: skip
    assert names(rest, state="DEPLOYMENT_STATE_LIVE") == ["Mid Street"]
    assert names(rest, state="DEPLOYMENT_STATE_PENDING") == ["Zeta Quant", "acme_labs"]
    assert names(rest, state="DEPLOYMENT_STATE_UNHEALTHY") == []
    assert names(rest, state="DEPLOYMENT_STATE_STOPPED") == []


def test_orders_by_name_activity_and_score(server, rest: Api):
    made = market(server, rest)
    assert names(rest, orderBy="CATALOG_ORDER_NAME") == ["acme_labs", "Mid Street", "Zeta Quant"]
    assert names(rest) == ["Zeta Quant", "acme_labs", "Mid Street"]  # the order they were listed in
    for slug, view in [("mid", 0.9), ("zeta", -0.5)]:  # mid foresees the returns, zeta the opposite
        rest.store_signal(made[slug][2], "AAA", score=view)
        rest.store_signal(made[slug][2], "BBB", score=-view)
    assert names(rest, orderBy="CATALOG_ORDER_ACTIVITY")[-1] == "acme_labs"  # no signal: last
    rest.call("POST", "/api/admin/rounds/1:close", {})
    returns = [{"symbol": "AAA", "realizedReturn": 0.02}, {"symbol": "BBB", "realizedReturn": -0.01}]
    rest.call("POST", "/api/admin/rounds/1:resolve", {"returns": returns})
    assert names(rest, orderBy="CATALOG_ORDER_SCORE") == ["Mid Street", "Zeta Quant", "acme_labs"]
    rest.call("DELETE", f"/api/deployments/{made['mid'][1]}", token=made["mid"][0])  # its score leaves with it
    # (another page size: the catalog's answers are cached for a moment)
    assert names(rest, orderBy="CATALOG_ORDER_SCORE", pageSize=3) == ["Zeta Quant", "acme_labs", "Mid Street"]


def test_pages_keep_the_search_and_order(server, rest: Api):
    for number in range(5):
        rest.call("POST", "/api/admin/vendors", {"slug": f"v{number}", "displayName": f"Desk {4 - number}"})
    first = rest.call("GET", "/api/catalog?pageSize=2&orderBy=CATALOG_ORDER_NAME&query=desk")
    token = first["nextPageToken"]
    second = rest.call("GET", f"/api/catalog?pageSize=2&orderBy=CATALOG_ORDER_NAME&query=desk&pageToken={token}")
    shown = [entry["vendor"]["displayName"] for entry in first["entries"] + second["entries"]]
    assert shown == ["Desk 0", "Desk 1", "Desk 2", "Desk 3"]
    changed = httpx.get(server.http_url + f"/api/catalog?pageSize=2&query=other&pageToken={token}",
                        headers={"Authorization": f"Bearer {server.admin_token}"})  # fmt: skip
    assert changed.status_code == 400
