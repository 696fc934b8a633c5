"""Every REST route of the gateway, as an admin, a vendor and a deployment, with path values, query
parameters and JSON bodies from fuzzed requests, and with hostile bodies (broken JSON, wrong types,
deep nesting, bytes that are not UTF-8): never a 5xx, never a token in an error body."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from mlmp_server.gateway.routes import Route, routes_from_services
from mlmp_server.grpc_server import SERVICES
from tests.helpers.fuzz.rpcs import CALLERS, FUZZ, STREAM_READ, STREAMS
from tests.helpers.fuzz.strategies import Drawn, requests
from tests.helpers.fuzz.world import World
from tests.helpers.processes import ServerProcess

pytestmark = [
    pytest.mark.e2e,
    # Hostile requests are large by design; hypothesis warns when it prints one.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

ROUTES = tuple(routes_from_services(SERVICES))
# The gRPC fuzz already drives the servicers; here the transcoding is what is new, so fewer examples.
REST = settings(FUZZ, max_examples=max(3, FUZZ.max_examples // 2))
REST_STREAMS = settings(STREAMS, max_examples=max(2, STREAMS.max_examples // 2))
BROKEN_GRPC_CODES = {2, 13, 14}  # UNKNOWN, INTERNAL, UNAVAILABLE inside a stream's error line

HOSTILE_BODIES: tuple[bytes, ...] = (
    b"",
    b"{",
    b"null",
    b"[]",
    b'"x"',
    b"1e400",
    b"NaN",
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b"\xff\xfe\x00{}",
    b'{"\xc3\x28": 1}',
    b'{"a": "\\ud800"}',  # a lone surrogate, escaped
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b'{"x": "' + b"y" * 200_000 + b'"}',
    b"\x00" * 1000,
)
WRONG_TYPES: tuple[Any, ...] = (None, [], {}, "x", "1e400", 2**70, -(2**70), 1.5, True, [[[]]], {"a": {"b": 1}})


def _label(route: Route) -> str:
    return f"{route.http_method} {route.template.source}"


@pytest.fixture(scope="module")
def http(fuzz_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.api_url, timeout=30) as client:
        yield client


def _json_of(message: Message) -> Any:
    """The message as proto3 JSON; values JSON cannot carry (a Timestamp out of range, NaN in a
    Struct, an unknown enum number) are written the way a careless client would, never dropped."""
    name = message.DESCRIPTOR.full_name
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        try:
            return message.ToJsonString()  # type: ignore[attr-defined]
        except ValueError:
            return {"seconds": message.seconds, "nanos": message.nanos}  # type: ignore[attr-defined]
    if name in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
        return _plain(message)
    out: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            value_field = descriptor.message_type.fields_by_name["value"]
            out[descriptor.json_name] = {str(k): _json_value(value_field, v) for k, v in value.items()}
        elif descriptor.is_repeated:
            out[descriptor.json_name] = [_json_value(descriptor, item) for item in value]
        else:
            out[descriptor.json_name] = _json_value(descriptor, value)
    return out


def _json_value(descriptor: FieldDescriptor, value: Any) -> Any:
    if isinstance(value, Message):
        return _json_of(value)
    if descriptor.enum_type is not None:
        known = descriptor.enum_type.values_by_number.get(value)
        return known.name if known else value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _plain(message: Message) -> Any:
    """A Struct, Value or ListValue as the Python value it holds, NaN and all."""
    if isinstance(message, struct_pb2.Struct):
        return {key: _plain(item) for key, item in message.fields.items()}
    if isinstance(message, struct_pb2.ListValue):
        return [_plain(item) for item in message.values]
    kind = message.WhichOneof("kind")
    if kind == "struct_value" or kind == "list_value":
        return _plain(getattr(message, kind))
    return None if kind in (None, "null_value") else getattr(message, kind)


def _url(route: Route, document: dict[str, Any]) -> str:
    path = route.template.source
    for variable in route.template.variables:
        field = route.method.input_type.fields_by_name[variable]
        value = document.pop(field.json_name, "")
        path = path.replace("{" + variable + "}", quote(str(value), safe=""))
    return path


def _query(document: dict[str, Any]) -> list[tuple[str, str]]:
    params = []
    for name, value in document.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict | list):
                continue
            params.append((name, json.dumps(item) if isinstance(item, bool) or item is None else str(item)))
    return params


def send(
    http: httpx.Client, route: Route, token: str, document: dict[str, Any], body: bytes | None, secrets: list[str]
) -> None:
    url = _url(route, document)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    if body is None and route.body:
        text = json.dumps(document, allow_nan=True)
        body = ("\n".join([text] * 2) if route.method.client_streaming else text).encode()
    params = [] if route.body else _query(document)
    streaming = route.method.server_streaming
    request = http.build_request(
        route.http_method, url, params=params, content=body or None, headers=headers,
        timeout=httpx.Timeout(30, read=STREAM_READ) if streaming else None,
    )  # fmt: skip
    described = f"{route.http_method} {url[:200]} query={str(params)[:200]} body={(body or b'')[:200]!r}"
    if streaming:
        try:
            response = http.send(request, stream=True)
        except httpx.ReadTimeout:
            return  # a quiet subscription: no headers until its first message
        try:
            status = response.status_code
            lines = _some_lines(response) if status == 200 else []
            text = "" if status == 200 else response.read().decode(errors="replace")
        finally:
            response.close()
        broken = [line for line in lines if line.get("error", {}).get("code") in BROKEN_GRPC_CODES]
        assert not broken, f"{_label(route)}: error in the stream {broken[0]} for {described}"
    else:
        try:
            response = http.send(request)
        except httpx.TransportError as error:
            raise AssertionError(f"{_label(route)}: the connection broke ({error!r}) for {described}") from None
        status, text = response.status_code, response.text
    assert status < 500, f"{_label(route)}: HTTP {status} {text[:300]!r} for {described}"
    leaked = [secret[:8] + "…" for secret in secrets if status >= 400 and secret in text]
    assert not leaked, f"{_label(route)}: HTTP {status} error body carries tokens {leaked}: {text[:300]!r}"


def _some_lines(response: httpx.Response) -> list[dict[str, Any]]:
    """The first few lines of an NDJSON stream: an endless subscription is left after a moment."""
    lines: list[dict[str, Any]] = []
    try:
        for line in response.iter_lines():
            if line.strip():
                lines.append(json.loads(line))
            if len(lines) >= 3:
                break
    except httpx.ReadTimeout:
        pass
    return lines


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=_label)
def test_fuzzed_rest_calls_never_answer_5xx(route: Route, caller: str, http: httpx.Client, world: World):
    token = world.callers[caller]
    budget = REST_STREAMS if route.method.server_streaming or route.method.client_streaming else REST
    fields = [f.json_name for f in route.method.input_type.fields]
    wrong_type = st.tuples(st.sampled_from(fields or ["x"]), st.sampled_from(WRONG_TYPES)) if fields else st.none()

    @budget
    @given(drawn=requests(route.method.input_type, world.pools), twist=st.one_of(st.none(), wrong_type))
    def run(drawn: Drawn, twist: tuple[str, Any] | None) -> None:
        document = _json_of(drawn.message)
        if twist is not None:
            document[twist[0]] = twist[1]
        send(http, route, token, document, None, world.secrets)

    run()


@pytest.mark.parametrize("route", ROUTES, ids=_label)
def test_hostile_rest_bodies_never_answer_5xx(route: Route, fuzz_server: ServerProcess, world: World):
    failures = []
    for body in HOSTILE_BODIES:
        # A connection of its own each: one broken by a failure must not fail the next body.
        with httpx.Client(base_url=fuzz_server.api_url, timeout=30) as http:
            try:
                send(http, route, world.callers["admin"], {}, body, world.secrets)
            except AssertionError as failure:
                failures.append(str(failure))
    query_twists: list[dict[str, Any]] = [
        {"pageSize": "abc"}, {"pageSize": "1e400"}, {"pageSize": str(2**70)}, {"state": "NOT_A_STATE"},
        {"roundNumber": "-1"}, {"includeRevoked": "maybe"}, {"nope": "x"}, {"page_token": "\x00" * 10},
        {"pageToken": "%"}, {"vendor": "x" * 20_000},
    ]  # fmt: skip
    if not route.body:
        with httpx.Client(base_url=fuzz_server.api_url, timeout=30) as http:
            for twist in query_twists:
                try:
                    send(http, route, world.callers["admin"], dict(twist), None, world.secrets)
                except AssertionError as failure:
                    failures.append(str(failure))
    assert not failures, "\n".join(failures)


def test_token_values_in_paths_are_not_echoed(http: httpx.Client, world: World):
    """A token pasted where an id belongs comes back redacted, over REST as over gRPC."""
    leaks = []
    for route in ROUTES:
        if not route.template.variables or route.method.server_streaming:
            continue
        for secret in world.secrets[:3]:
            document = {
                route.method.input_type.fields_by_name[v].json_name: "x" + secret for v in route.template.variables
            }
            url = _url(route, document)
            response = http.request(
                route.http_method, url, headers={"authorization": f"Bearer {world.callers['admin']}"},
                content=b"{}" if route.body else None,
            )  # fmt: skip
            if secret in response.text:
                leaks.append(f"{_label(route)}: HTTP {response.status_code} {response.text[:200]!r}")
    assert not leaks, "\n".join(leaks)
