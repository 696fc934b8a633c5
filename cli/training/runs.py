"""Training runs as the CLI handles them, whatever trains them: creating one, its events on a terminal,
its outcome as an exit code."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mlmp_cli import output
from mlmp_cli.context import Context
from mlmp_cli.display import clock, enum_word

if TYPE_CHECKING:
    from mlmp_cli.project import Project

# The exit codes of `mp train start` and `mp train logs --follow`: the run's outcome, for scripts.
EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 130, "lost": 3}


@dataclass(frozen=True)
class RunSpec:
    """What `mp train start` asks for: the task, where to train, its hyperparameters."""

    task: str
    provider: str
    gpu: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)


def run_state(run: Any) -> str:
    from mlmp_marketplace.v1 import training_pb2

    return enum_word(training_pb2.RunState, run.state)


def get_run(ctx: Context, run_id: str) -> Any:
    from mlmp_marketplace.v1 import training_pb2

    return ctx.call(ctx.training.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))


def create_run(ctx: Context, project: Project, round_number: int, spec: RunSpec) -> Any:
    """A new run of `project` against the round, recorded before anything trains."""
    from google.protobuf import json_format, struct_pb2

    from mlmp_marketplace.v1 import training_pb2

    request = training_pb2.CreateTrainingRunRequest(
        request_id=str(uuid.uuid4()), task=spec.task or project.task, round_number=round_number,
        provider=spec.provider, gpu_type=spec.gpu, project=project.name,
    )  # fmt: skip
    for key, value in spec.hyperparameters.items():
        request.hyperparameters[key].CopyFrom(json_format.ParseDict(value, struct_pb2.Value()))
    return ctx.call(ctx.training.CreateTrainingRun, request)


def fail_run(ctx: Context, run_id: str, message: str) -> None:
    from mlmp_marketplace.v1 import training_pb2

    failed = training_pb2.TransitionTrainingRunRequest(
        run_id=run_id, state=training_pb2.RunState.RUN_STATE_FAILED, message=message
    )
    ctx.call(ctx.training.TransitionTrainingRun, failed)


def print_created(run: Any, as_json: bool) -> None:
    """What `--detach` prints once the run exists."""
    output.emit_json(output.to_dict(run)) if as_json else output.echo(run.id)


def finish(ctx: Context, run_id: str, outcome: str, as_json: bool) -> NoReturn:
    """Prints how the run ended and exits with its outcome's code."""
    final = get_run(ctx, run_id)
    if as_json:
        output.emit_json(output.to_dict(final))
    else:
        message = f" {final.message}" if final.message and outcome != "succeeded" else ""
        output.echo(f"Run {run_id} {outcome}.{message}")
    sys.exit(EXIT_CODES.get(outcome, 1))


def print_event(event: Any, as_json: bool) -> None:
    from mlmp_marketplace.v1 import training_pb2

    if as_json:
        click.echo(json.dumps(output.to_dict(event)))
        return
    stamp = clock(event.time)
    kind = event.WhichOneof("event")
    if kind == "state_change":
        change = event.state_change
        name = enum_word(training_pb2.RunState, change.to_state)
        output.echo(f"{stamp}  state  {name}" + (f": {change.message}" if change.message else ""))
    elif kind == "metric":
        output.echo(f"{stamp}  metric {event.metric.key}={event.metric.value:.6g} (step {event.metric.step})")
    else:
        output.echo(f"{stamp}  {event.log.stream:6} {event.log.text}")


def show_events(ctx: Context, run_id: str, follow: bool, as_json: bool) -> None:
    """The run's events so far; with `follow`, live ones too until the run ends (Ctrl-C stops)."""
    import grpc

    from mlmp_marketplace.v1 import training_pb2

    request = training_pb2.WatchTrainingRunRequest(run_id=run_id)
    if follow:
        stream = ctx.training.WatchTrainingRun(request, metadata=ctx.metadata)
        with ctx.translate_errors():
            try:
                for event in stream:
                    print_event(event, as_json)
            except KeyboardInterrupt:
                stream.cancel()
                raise  # mp ends as interrupted (130); the run goes on
        return
    with ctx.translate_errors():
        stream = ctx.training.WatchTrainingRun(request, metadata=ctx.metadata, timeout=2.0)
        try:
            for event in stream:
                print_event(event, as_json)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # the past is shown; the run goes on
                raise
