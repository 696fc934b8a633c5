"""Training runs for the tests: a run created with typed hyperparameters."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2

from mlmp_marketplace.v1 import training_pb2


def value(python) -> struct_pb2.Value:
    return json_format.ParseDict(python, struct_pb2.Value())


def start(runs, who, **fields) -> training_pb2.TrainingRun:
    """A new run (task `signal`) with hyperparameters lr=0.001 and layers=[64, 32]."""
    request = training_pb2.CreateTrainingRunRequest(task="signal", **fields)
    request.hyperparameters["lr"].CopyFrom(value(0.001))
    request.hyperparameters["layers"].CopyFrom(value([64, 32]))
    return runs.CreateTrainingRun(request, metadata=who)
