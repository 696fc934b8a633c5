"""Hyperparameters: `mp train start --hp` parses them; neither it nor the server takes a number
that is not finite (NaN, ±Infinity, or a literal too large for a double)."""

from __future__ import annotations

import click
import grpc
import pytest
from google.protobuf import struct_pb2

from mlmp_cli.exit_codes import ExitCode
from mlmp_cli.project import parse_hyperparameter
from mlmp_marketplace.v1 import training_pb2
from tests.helpers.processes import clean_env, run


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lr=0.001", ("lr", 0.001)), ("layers=[64,32]", ("layers", [64, 32])), ("name=abc", ("name", "abc"))],
)
def test_hyperparameters_are_typed(text, expected):
    assert parse_hyperparameter(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("l2=NaN", "'l2=NaN': a hyperparameter must be a finite number"),
        ("l2=Infinity", "'l2=Infinity': a hyperparameter must be a finite number"),
        ("l2=[1,-Infinity]", "a hyperparameter must be a finite number"),
        ("l2=1e999", "'l2=1e999': 1e999 is too large for a number"),
    ],
)
def test_the_cli_refuses_numbers_that_are_not_finite(text, message):
    with pytest.raises(click.BadParameter) as caught:
        parse_hyperparameter(text)
    assert message in caught.value.format_message()


@pytest.mark.parametrize(
    "value",
    [
        struct_pb2.Value(number_value=float("nan")),
        struct_pb2.Value(number_value=float("inf")),
        struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(number_value=float("-inf"))])),
    ],
)
def test_the_server_refuses_numbers_that_are_not_finite_and_stores_no_run(runs, acme, value):
    request = training_pb2.CreateTrainingRunRequest(task="signal", provider="local")
    request.hyperparameters["l2"].CopyFrom(value)
    with pytest.raises(grpc.RpcError) as caught:
        runs.CreateTrainingRun(request, metadata=acme)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("hyperparameters['l2']")
    assert "must be a finite number" in caught.value.details()
    assert not runs.ListTrainingRuns(training_pb2.ListTrainingRunsRequest(), metadata=acme).runs


def test_a_repeated_hyperparameter_is_a_usage_error():
    refused = run("mp", "train", "start", "--hp", "l2=0.5", "--hp", "l2=0.9", env=clean_env())
    assert refused.returncode == ExitCode.USAGE
    assert "l2 is given twice (l2=0.5 and l2=0.9); give each hyperparameter once" in refused.stderr
