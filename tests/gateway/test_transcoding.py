"""The gateway on a service it has never heard of (tests/helpers/things.proto): every HttpRule form."""

from __future__ import annotations

import json
import time

import httpx
import pytest


def get(gateway, path: str, **kwargs) -> httpx.Response:
    return httpx.get(gateway.url + path, **kwargs)


def test_a_single_segment_variable_is_fully_percent_decoded(gateway):
    body = get(gateway, "/v1/things/a%2Fb%20c").json()
    assert body["rpc"] == "Get"
    assert body["thing"]["id"] == "a/b c"


def test_a_pattern_variable_takes_its_segments(gateway):
    body = get(gateway, "/v1/shelves/1/books/2").json()
    assert (body["rpc"], body["thing"]["name"]) == ("GetNamed", "shelves/1/books/2")
    assert get(gateway, "/v1/shelves/1").status_code == 404


def test_a_double_wildcard_keeps_encoded_slashes(gateway):
    body = get(gateway, "/v1/files/a/b%2Fc/d%20e").json()
    assert body["thing"]["path"] == "a/b%2Fc/d e"


def test_nested_field_variables(gateway):
    assert get(gateway, "/v1/inner/xyz").json()["thing"]["inner"]["id"] == "xyz"


def test_the_literal_wins_over_a_variable_whatever_the_declaration_order(gateway):
    assert get(gateway, "/v1/things/special").json()["rpc"] == "GetSpecial"
    assert get(gateway, "/v1/things/specials").json()["rpc"] == "Get"


def test_a_verb_with_no_rule_is_part_of_the_value(gateway):
    body = get(gateway, "/v1/things/a:other").json()
    assert (body["rpc"], body["thing"]["id"]) == ("Get", "a:other")


def test_body_star_accepts_both_key_styles_and_ignores_unknown_keys(gateway):
    sent = {"id": "t1", "display": "ignored", "inner": {"size": 3}, "ratio": 0.5, "big": "9007199254740993"}
    sent["numbers"] = [1, 2]
    response = httpx.post(gateway.url + "/v1/things", json={**sent, "pause_ms": 1, "color": "GREEN", "max_size": 1})
    thing = response.json()["thing"]
    assert response.status_code == 200
    assert thing["big"] == "9007199254740993"  # int64 as a string, no precision lost
    assert thing["color"] == "GREEN"
    assert thing["count"] == 0  # scalars with default values are printed
    assert thing["inner"] == {"id": "", "size": 3}
    snake = httpx.post(gateway.url + "/v1/things", json={"display_name": 1, "labels": {"a": "b"}, "id": "t2"})
    assert snake.json()["thing"]["labels"] == {"a": "b"}


def test_body_field_and_query_fill_the_rest(gateway):
    response = httpx.patch(gateway.url + "/v1/things/abc?name=n&tags=x&tags=y", json={"id": "inner-1", "size": 4})
    thing = response.json()["thing"]
    assert response.json()["rpc"] == "Update"
    assert (thing["id"], thing["name"], thing["tags"]) == ("abc", "n", ["x", "y"])
    assert thing["inner"] == {"id": "inner-1", "size": 4}


def test_a_path_value_overrides_the_body(gateway):
    body = httpx.post(gateway.url + "/v1/things/abc:archive", json={"id": "other", "name": "n"}).json()
    assert (body["rpc"], body["thing"]["id"], body["thing"]["name"]) == ("Archive", "abc", "n")


def test_additional_bindings_reach_the_same_rpc(gateway):
    body = httpx.post(gateway.url + "/v1/archive/zz", json={}).json()
    assert (body["rpc"], body["thing"]["id"]) == ("Archive", "zz")


def test_query_parameters_cover_scalars_enums_and_well_known_types(gateway):
    query = (
        "name=n&big=123&count=4&ratio=0.25&flag=true&color=2&tags=a&tags=b&numbers=1&numbers=2"
        "&inner.size=9&when=2026-01-02T03:04:05Z&wait=1.5s&mask=a,b.c&maybe=7&unknown=1&blob=aGk="
    )
    thing = get(gateway, f"/v1/things/x?{query}").json()["thing"]
    assert thing["name"] == "n"
    assert (thing["big"], thing["count"], thing["ratio"], thing["flag"]) == ("123", 4, 0.25, True)
    assert thing["color"] == "GREEN"
    assert (thing["tags"], thing["numbers"]) == (["a", "b"], [1, 2])
    assert thing["inner"]["size"] == 9
    assert (thing["when"], thing["wait"], thing["mask"], thing["maybe"]) == (
        "2026-01-02T03:04:05Z",
        "1.500s",
        "a,b.c",
        7,
    )
    assert thing["blob"] == "aGk="
    assert get(gateway, "/v1/things/x?color=RED").json()["thing"]["color"] == "RED"
    assert get(gateway, "/v1/things/x?inner.id=q&id=ignored").json()["thing"]["id"] == "x"


def test_response_body_returns_one_field(gateway):
    assert get(gateway, "/v1/describe/q?name=n").json()["name"] == "n"
    assert "rpc" not in get(gateway, "/v1/describe/q").json()


def test_delete_without_body(gateway):
    assert httpx.delete(gateway.url + "/v1/things/q").json()["rpc"] == "Remove"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/counts/abc", "not an integer"),
        ("/v1/things/x?count=1.5", "not an integer"),
        ("/v1/things/x?color=PURPLE", "not one of"),
        ("/v1/things/x?flag=maybe", "not true or false"),
        ("/v1/things/x?when=yesterday", "when"),
        ("/v1/things/x?wait=5", "wait"),
    ],
)
def test_values_of_the_wrong_type_are_400_before_any_call(gateway, path, message):
    response = get(gateway, path)
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert message in response.json()["message"]


def test_malformed_bodies_are_400(gateway):
    for body in (b"{nope", b"[1,2]", b'{"count": "many"}'):
        response = httpx.post(gateway.url + "/v1/things", content=body)
        assert response.status_code == 400, body


def test_unknown_paths_are_404_and_wrong_methods_405_with_allow(gateway):
    missing = get(gateway, "/v2/anything")
    assert missing.status_code == 404
    assert missing.json()["code"] == 5
    wrong = httpx.put(gateway.url + "/v1/things/x")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "DELETE, GET, PATCH"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("NOT_FOUND", 404), ("INVALID_ARGUMENT", 400), ("FAILED_PRECONDITION", 400), ("OUT_OF_RANGE", 400),
        ("UNAUTHENTICATED", 401), ("PERMISSION_DENIED", 403), ("ALREADY_EXISTS", 409), ("ABORTED", 409),
        ("RESOURCE_EXHAUSTED", 429), ("UNIMPLEMENTED", 501), ("UNAVAILABLE", 503), ("DEADLINE_EXCEEDED", 504),
        ("INTERNAL", 500), ("DATA_LOSS", 500), ("UNKNOWN", 500), ("CANCELLED", 499),
    ],
)  # fmt: skip
def test_grpc_errors_map_to_http_statuses(gateway, code, status):
    response = get(gateway, f"/v1/fail/{code}")
    assert response.status_code == status
    body = response.json()
    assert body["message"] == f"failed with {code}"
    assert body["code"] == __import__("grpc").StatusCode[code].value[0]
    assert response.headers["grpc-metadata-x-why"] == "asked"
    if code == "UNAUTHENTICATED":
        assert response.headers["www-authenticate"].startswith("Bearer")
    if code == "RESOURCE_EXHAUSTED":
        assert response.headers["retry-after"] == "3"
        assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
        assert body["details"][0]["retryDelay"] == "3s"


def test_headers_become_metadata_and_back(gateway):
    response = get(
        gateway,
        "/v1/things/h",
        headers={"Authorization": "Bearer abc", "Grpc-Metadata-Tenant": "blue", "X-Request-Id": "req-42"},
    )
    metadata = response.json()["metadata"]
    assert metadata["authorization"] == "Bearer abc"
    assert metadata["tenant"] == "blue"
    assert metadata["x-request-id"] == "req-42"
    assert response.headers["x-request-id"] == "req-42"
    assert response.headers["grpc-metadata-x-served-by"] == "things"
    assert len(get(gateway, "/v1/things/h").headers["x-request-id"]) == 32  # made when absent


def test_grpc_timeout_sets_the_deadline_and_a_default_applies(gateway):
    with_header = get(gateway, "/v1/things/t", headers={"Grpc-Timeout": "2S"}).json()["timeoutSeconds"]
    assert 0 < with_header <= 2.05  # the deadline's clock rounds a little
    default = get(gateway, "/v1/things/t").json()["timeoutSeconds"]
    assert 2.05 < default <= 7.05
    assert get(gateway, "/v1/things/t", headers={"Grpc-Timeout": "soon"}).status_code == 400


def test_server_streams_are_newline_delimited_json(gateway):
    response = get(gateway, "/v1/count?count=3")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["result"]["thing"]["count"] for line in lines] == [0, 1, 2]


def test_a_stream_failing_after_its_first_message_ends_with_an_error_line(gateway):
    response = get(gateway, "/v1/count?count=3&failAfterFirst=true")
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "result" in lines[0]
    assert lines[-1]["error"]["code"] == 15
    assert lines[-1]["error"]["message"] == "lost the rest"


def test_a_stream_failing_before_its_first_message_gets_its_status(gateway):
    response = get(gateway, "/v1/count?count=3&fail_before_first=true")
    assert response.status_code == 404
    assert response.json()["message"] == "nothing to count"


def test_the_client_going_away_cancels_the_grpc_call(gateway):
    before = gateway.servicer.cancelled_counts
    with httpx.stream("GET", gateway.url + "/v1/count?count=10000&pauseMs=5") as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["result"]["rpc"] == "Count"
    deadline = time.monotonic() + 5
    while gateway.servicer.cancelled_counts == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gateway.servicer.cancelled_counts == before + 1


def test_client_streams_take_newline_delimited_json(gateway):
    response = httpx.post(gateway.url + "/v1/collect", content=b'{"name": "a"}\n\n{"name": "b"}\n')
    assert response.json()["thing"]["tags"] == ["a", "b"]


def test_a_declared_verb_is_never_swallowed_by_a_verb_less_rule(gateway):
    archived = httpx.post(gateway.url + "/v1/things/x:archive", json={})
    assert archived.json()["rpc"] == "Archive"
    wrong = httpx.get(gateway.url + "/v1/things/x:archive")  # not GetThing with id "x:archive"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


def test_empty_query_values_leave_non_string_fields_unset(gateway):
    thing = get(gateway, "/v1/things/x?count=&color=&when=&name=").json()["thing"]
    assert (thing["count"], thing["color"], thing["name"]) == (0, "COLOR_UNSPECIFIED", "")
    assert "when" not in thing
