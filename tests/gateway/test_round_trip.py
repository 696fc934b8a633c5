"""Property: any Thing sent as JSON through the gateway arrives in gRPC unchanged and comes back equal."""

from __future__ import annotations

import httpx
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


def thing_strategy(pb):
    inner = st.builds(pb.Inner, id=TEXT, size=INT32)
    return st.builds(
        lambda fields, when, wait, maybe: _thing(pb, fields, when, wait, maybe),
        st.fixed_dictionaries(
            {},
            optional={
                "id": TEXT,
                "name": TEXT,
                "big": INT64,
                "count": INT32,
                "ratio": FINITE,
                "flag": st.booleans(),
                "color": st.sampled_from([0, 1, 2]),
                "tags": st.lists(TEXT, max_size=4),
                "numbers": st.lists(INT32, max_size=4),
                "inner": inner,
                "path": TEXT,
                "blob": st.binary(max_size=16),
                "labels": st.dictionaries(TEXT, TEXT, max_size=3),
            },
        ),  # fmt: skip
        st.none() | st.integers(-62135596800, 253402300799),
        st.none() | st.integers(-315576000000, 315576000000),
        st.none() | INT32,
    )


def _thing(pb, fields, when, wait, maybe):
    thing = pb.Thing(**fields)
    if when is not None:
        thing.when.seconds = when
    if wait is not None:
        thing.wait.seconds = wait
    if maybe is not None:
        thing.maybe.value = maybe
    return thing


def test_messages_survive_the_round_trip(gateway, things):
    pb = things[0]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(thing_strategy(pb))
    def round_trip(thing):
        sent = json_format.MessageToDict(thing)
        response = httpx.post(gateway.url + "/v1/things", json=sent)
        assert response.status_code == 200, response.text
        received = pb.Thing()
        json_format.ParseDict(response.json()["thing"], received)
        assert received == thing

    round_trip()
