"""Hostile HTTP input against the gateway on a real port: every refusal is a 4xx in the JSON error
shape `{code, message, details}`, decided before the gRPC call and before reading what is not needed."""

from __future__ import annotations

import socket

import httpx
import pytest

from mlmp_server.gateway.app import MAX_BODY_BYTES, MAX_TIMEOUT_SECONDS


def assert_refused(response: httpx.Response, status: int, words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert words in body["message"]
    return body


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"id":' * 50_000 + b"1" + b"}" * 50_000])
def test_a_deeply_nested_body_is_400(gateway, body):
    response = httpx.post(gateway.url + "/v1/things", content=body)
    assert_refused(response, 400, "nest")


@pytest.mark.parametrize(
    "query",
    [
        "color=%C2%B3",  # superscript three: str.isdigit() says yes, int() says no
        "color=%D9%A1",  # Arabic-Indic one: int() says 1
        "count=%D9%A1%D9%A2",
        "count=%C2%B3",
        "count=1_000",
        "count=%201",
        "count=%2B1",
        "ratio=%D9%A1.5",
        "ratio=1_0.5",
        "ratio=%201.5",
        "maybe=%D9%A1",
        "numbers=1&numbers=%D9%A2",
    ],
)
def test_numbers_in_the_query_are_ascii_digits_only(gateway, query):
    assert_refused(httpx.get(f"{gateway.url}/v1/things/x?{query}"), 400, "query")


def test_numbers_in_the_path_are_ascii_digits_only(gateway):
    assert_refused(httpx.get(gateway.url + "/v1/counts/%D9%A1"), 400, "not an integer")


@pytest.mark.parametrize(
    "body",
    [
        {"count": "\u0661"},
        {"big": "\u0661\u0662"},
        {"ratio": "\u0661.5"},
        {"color": "\u0661"},
        {"numbers": [1, "\u0662"]},
        {"maybe": "\u00b3"},
        {"inner": {"size": "\u0663"}},
    ],
)
def test_numbers_in_the_body_are_ascii_digits_only(gateway, body):
    assert_refused(httpx.post(gateway.url + "/v1/things", json=body), 400, "body")


def test_ascii_numbers_still_pass_everywhere(gateway):
    thing = httpx.get(gateway.url + "/v1/things/x?color=2&count=-7&ratio=-1.5e3&maybe=4&numbers=1").json()["thing"]
    assert (thing["color"], thing["count"], thing["ratio"], thing["maybe"], thing["numbers"]) == (
        "GREEN", -7, -1500.0, 4, [1]
    )  # fmt: skip
    sent = {"count": "12", "big": "-9007199254740993", "ratio": "NaN", "color": 1, "inner": {"size": "3"}}
    thing = httpx.post(gateway.url + "/v1/things", json=sent).json()["thing"]
    assert (thing["count"], thing["big"], thing["ratio"], thing["color"]) == (12, "-9007199254740993", "NaN", "RED")


@pytest.mark.parametrize("value", ["99999999H", "1 S", "1.5S", "123456789S", "\u0661S", "1s", "-1S", "+1S", ""])
def test_a_malformed_grpc_timeout_is_400(gateway, value):
    if value == "99999999H":  # well-formed: clamped, not refused
        seconds = httpx.get(gateway.url + "/v1/things/t", headers={"Grpc-Timeout": value}).json()["timeoutSeconds"]
        # gRPC rounds a deadline up to a coarser unit on the wire.
        assert MAX_TIMEOUT_SECONDS * 0.99 < seconds <= MAX_TIMEOUT_SECONDS * 1.01
        return
    response = httpx.get(gateway.url + "/v1/things/t", headers={"Grpc-Timeout": value.encode()})
    assert_refused(response, 400, "Grpc-Timeout")


def test_oversized_metadata_is_refused_with_a_clear_message(gateway):
    response = httpx.get(gateway.url + "/v1/things/h", headers={"Grpc-Metadata-Big": "a" * 100_000})
    assert_refused(response, 431, "Grpc-Metadata-big")
    many = {f"Grpc-Metadata-K{i}": "v" * 1000 for i in range(20)}
    assert_refused(httpx.get(gateway.url + "/v1/things/h", headers=many), 431, "headers")
    huge_token = httpx.get(gateway.url + "/v1/things/h", headers={"Authorization": "Bearer " + "a" * 100_000})
    assert_refused(huge_token, 431, "Authorization")


def test_token_looking_values_are_redacted_from_gateway_errors(gateway):
    token = "mpat_" + "Ab3" * 10
    for response in (
        httpx.get(f"{gateway.url}/v1/counts/{token}"),
        httpx.get(f"{gateway.url}/v1/things/x?count={token}"),
        httpx.post(gateway.url + "/v1/things", json={"count": token}),
        httpx.get(f"{gateway.url}/v2/{token}"),
        httpx.get(f"{gateway.url}/v1/things/x?color={token}"),
    ):
        assert response.status_code in (400, 404)
        assert token not in response.text
        assert "mpat_[REDACTED]" in response.json()["message"]


def _raw_request(port: int, head: bytes, chunks: list[bytes]) -> bytes:
    """Sends the head and as many chunks as the server takes, then reads the whole answer. A server
    that waits for the rest of the body never answers, and the read times out."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking the rest
        answer = b""
        try:
            while piece := sock.recv(65536):
                answer += piece
        except ConnectionResetError:
            pass
        return answer


def test_a_too_large_content_length_is_413_without_reading_the_body(gateway):
    head = (
        f"POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {500 * 1024 * 1024}\r\n\r\n"
    ).encode()
    answer = _raw_request(gateway.http_port, head, [])  # not one byte of the body is ever sent
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"message":"the body is larger than 16 MiB' in answer


def test_a_chunked_body_is_counted_while_it_streams(gateway):
    head = (
        b"POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * (1024 * 1024)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    # One MiB more than the limit, and never the final empty chunk: only counting can end this request.
    answer = _raw_request(gateway.http_port, head, [chunk] * (MAX_BODY_BYTES // len(piece) + 1))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_body_at_the_limit_is_still_read(gateway):
    body = b'{"id":"big"}' + b" " * (MAX_BODY_BYTES - 12)
    assert httpx.post(gateway.url + "/v1/things", content=body).json()["thing"]["id"] == "big"


def test_an_answer_over_the_channel_limit_is_not_reported_as_rate_limiting(gateway):
    """The harness's channel keeps gRPC's 4 MiB receive default: the call ran, its answer could not be read."""
    response = httpx.post(gateway.url + "/v1/things", json={"name": "n" * (5 * 1024 * 1024)}, timeout=60)
    body = assert_refused(response, 502, "completed on the server")
    assert body["code"] == 13
    assert "retry-after" not in response.headers


def test_the_document_says_64_bit_integers_are_digit_strings(gateway, things):
    """Schemathesis took `"sequence": ""` as schema-valid: the document promised any string."""
    import re

    from mlmp_server.gateway.openapi import openapi_document
    from mlmp_server.gateway.routes import routes_from_services

    routes = routes_from_services([things[0].DESCRIPTOR.services_by_name["Things"]])
    document = openapi_document(routes, title="t", version="1", is_public=lambda _method: True)
    big = document["components"]["schemas"]["gwtest.v1.Thing"]["properties"]["big"]["anyOf"][0]  # or null
    assert re.fullmatch(big["pattern"].strip("^$"), "-9007199254740993")
    for text in ("", "\u0661", "1.5", " 1"):
        assert not re.search(big["pattern"], text)
        assert httpx.post(gateway.url + "/v1/things", json={"big": text}).status_code == 400


def test_answer_metadata_over_grpcs_limit_is_not_reported_as_rate_limiting(gateway):
    """Things' Fail quotes the unknown code name in its status message, a trailer over gRPC's 16 KiB.
    In process no transport limits the status: the failure itself comes back."""
    response = httpx.get(gateway.url + "/v1/fail/" + "A" * 20_000)
    if gateway.in_process:
        assert_refused(response, 500, "KeyError")
    else:
        assert_refused(response, 502, "may have completed on the server")
    assert "retry-after" not in response.headers
