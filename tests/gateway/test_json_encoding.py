"""The gateway's fast JSON encoding writes exactly what protobuf's json_format writes."""

from __future__ import annotations

import math

from google.protobuf import json_format, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlmp_marketplace.v1 import catalog_pb2, common_pb2, deployments_pb2, signals_pb2, training_pb2
from mlmp_server.gateway.json_encoding import message_to_json
from tests.helpers.things import thing_strategy


def reference(message):
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def test_any_thing_encodes_as_json_format_does(things):
    pb = things[0]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(thing_strategy(pb))
    def same(thing):
        echo = pb.Echo(thing=thing, rpc="Get", metadata={"k": "v"}, timeout_seconds=1.5)
        assert message_to_json(echo) == reference(echo)
        assert message_to_json(thing) == reference(thing)

    same()


def test_contract_messages_with_edge_values_encode_as_json_format_does():
    signal = signals_pb2.Signal(id="1", symbol="AAA", score=0.0, confidence=float("inf"), action=7)  # unknown enum
    signal.generate_time.FromSeconds(1_800_000_000)
    signal.horizon.FromNanoseconds(1_500_000_000)
    entry = catalog_pb2.CatalogEntry(vendor=common_pb2.Vendor(id="vnd_1", slug="acme"), rounds_entered=[1, 2],
                                     signal_count=2**62)  # fmt: skip
    entry.models.add(deployment_id="dep_1", live_score=-0.25, state=deployments_pb2.DEPLOYMENT_STATE_LIVE)
    entry.models.add(deployment_id="dep_2")  # no live_score: absent, not null
    run = training_pb2.TrainingRun(id="run_1", latest_metrics={"val_corr": float("nan")})
    run.hyperparameters["layers"].list_value.values.add().number_value = 64
    run.hyperparameters["name"].string_value = "x"
    run.artifact.CopyFrom(common_pb2.FileDigest())  # set but empty: printed as defaults
    for message in (signal, catalog_pb2.ListCatalogResponse(entries=[entry]), run, signals_pb2.SignalAck()):
        encoded = message_to_json(message)
        expected = reference(message)
        assert _comparable(encoded) == _comparable(expected)


def _comparable(document):
    """NaN never equals itself; everything else compares as is."""
    if isinstance(document, dict):
        return {k: _comparable(v) for k, v in document.items()}
    if isinstance(document, list):
        return [_comparable(v) for v in document]
    if isinstance(document, float) and math.isnan(document):
        return "nan"
    return document


@given(st.integers(-62135596800, 253402300799), st.integers(0, 999_999_999) | st.sampled_from([0, 5_000_000, 7_000]))
def test_timestamps_read_as_protobuf_writes_them(seconds, nanos):
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    assert message_to_json(signals_pb2.Signal(generate_time=stamp))["generateTime"] == stamp.ToJsonString()
