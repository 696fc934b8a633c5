"""Property: any Thing sent as JSON through the gateway arrives in gRPC unchanged and comes back equal."""

from __future__ import annotations

import httpx
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings

from tests.helpers.things import thing_strategy


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
