"""`mp train`: a vendor's training runs: list, status, logs (live), cancel."""

from __future__ import annotations

import sys

import click

from cli import output
from cli.output import json_option

# Exit codes of `mp train logs --follow`: the run's outcome, for scripts.
EXIT_CODES = {"succeeded": 0, "failed": 1, "cancelled": 130, "lost": 3}


def _stub(session):
    from marketplace.v1 import training_pb2_grpc

    return training_pb2_grpc.TrainingServiceStub(session.channel)


def _state(run) -> str:
    from marketplace.v1 import training_pb2

    return training_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_").lower()


def _when(stamp, present: bool) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if present else "-"


@click.group()
def train() -> None:
    """Training runs: what you trained, against which round, how it went."""


@train.command("list")
@click.option("--status", "state", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled", "lost"]),
              help="Only runs in this state.")  # fmt: skip
@click.option("--round", "round_number", type=click.IntRange(min=1), help="Only runs against this round.")
@json_option
def list_runs(state: str | None, round_number: int | None, as_json: bool) -> None:
    """Your runs, newest first."""
    from cli.client import open_session
    from marketplace.v1 import training_pb2

    request = training_pb2.ListTrainingRunsRequest(round_number=round_number or 0, page_size=200)
    if state:
        request.state = training_pb2.RunState.Value(f"RUN_STATE_{state.upper()}")
    with open_session() as session:
        runs = session.call(_stub(session).ListTrainingRuns, request).runs
    if as_json:
        output.emit_json([output.to_dict(run) for run in runs])
        return
    output.table(
        ["RUN", "STATE", "ROUND", "TASK", "PROVIDER", "CREATED", "METRICS"],
        [
            (
                r.id,
                _state(r),
                r.round_number,
                r.task,
                r.provider,
                _when(r.create_time, r.HasField("create_time")),
                " ".join(f"{k}={v:.4g}" for k, v in sorted(r.latest_metrics.items())),
            )
            for r in runs
        ],  # fmt: skip
        empty="No training runs yet.",
    )


@train.command()
@click.argument("run_id")
@json_option
def status(run_id: str, as_json: bool) -> None:
    """State, hyperparameters, latest metrics, artifact and timings of RUN_ID."""
    from google.protobuf import json_format

    from cli.client import open_session
    from marketplace.v1 import training_pb2

    with open_session() as session:
        run = session.call(_stub(session).GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
    if as_json:
        output.emit_json(output.to_dict(run))
        return
    output.echo(f"Run {run.id}: {_state(run)}" + (f" ({run.message})" if run.message else ""))
    output.echo(f"Task {run.task}, round {run.round_number}, provider {run.provider}")
    params = {k: json_format.MessageToDict(v) for k, v in run.hyperparameters.items()}
    output.echo("Hyperparameters: " + (", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "none"))
    output.echo(
        "Latest metrics:  " + (", ".join(f"{k}={v:.6g}" for k, v in sorted(run.latest_metrics.items())) or "none")
    )
    if run.HasField("artifact"):
        output.echo(
            f"Artifact:        {run.artifact_uri} ({run.artifact.size_bytes} bytes, sha256 {run.artifact.sha256})"
        )
    output.echo(f"Created {_when(run.create_time, True)}, started {_when(run.start_time, run.HasField('start_time'))}, "
                f"ended {_when(run.end_time, run.HasField('end_time'))} (UTC)")  # fmt: skip


@train.command()
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming until the run ends; exit with its outcome.")
@json_option
def logs(run_id: str, follow: bool, as_json: bool) -> None:
    """Events of RUN_ID: state changes, metrics, log lines.

    With --follow the exit code is the run's outcome: 0 succeeded, 1 failed, 130 cancelled, 3 lost.
    """
    import grpc

    from cli.client import open_session, translate_errors
    from marketplace.v1 import training_pb2

    with open_session() as session:
        stub = _stub(session)
        if follow:
            stream = stub.WatchTrainingRun(training_pb2.WatchTrainingRunRequest(run_id=run_id),
                                           metadata=session.metadata)  # fmt: skip
            with translate_errors(session.endpoint):
                try:
                    for event in stream:
                        _print_event(event, as_json)
                except KeyboardInterrupt:
                    stream.cancel()
                    raise click.Abort() from None
        else:
            with translate_errors(session.endpoint):
                stream = stub.WatchTrainingRun(training_pb2.WatchTrainingRunRequest(run_id=run_id),
                                               metadata=session.metadata, timeout=2.0)  # fmt: skip
                try:
                    for event in stream:
                        _print_event(event, as_json)
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:  # the past is shown; the run goes on
                        raise
        run = session.call(stub.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
    if follow:
        sys.exit(EXIT_CODES.get(_state(run), 0))


def _print_event(event, as_json: bool) -> None:
    from marketplace.v1 import training_pb2

    if as_json:
        click.echo(__import__("json").dumps(output.to_dict(event)))
        return
    stamp = event.time.ToDatetime().strftime("%H:%M:%S")
    kind = event.WhichOneof("event")
    if kind == "state_change":
        change = event.state_change
        name = training_pb2.RunState.Name(change.to_state).removeprefix("RUN_STATE_").lower()
        output.echo(f"{stamp}  state  {name}" + (f": {change.message}" if change.message else ""))
    elif kind == "metric":
        output.echo(f"{stamp}  metric {event.metric.key}={event.metric.value:.6g} (step {event.metric.step})")
    else:
        output.echo(f"{stamp}  {event.log.stream:6} {event.log.text}")


@train.command()
@click.argument("run_id")
@click.option("--reason", default="cancelled by the vendor", help="Kept with the run.")
@json_option
def cancel(run_id: str, reason: str, as_json: bool) -> None:
    """Cancel RUN_ID; its executor stops at its next heartbeat."""
    from cli.client import open_session
    from marketplace.v1 import training_pb2

    with open_session() as session:
        run = session.call(
            _stub(session).CancelTrainingRun, training_pb2.CancelTrainingRunRequest(run_id=run_id, reason=reason)
        )
    if as_json:
        output.emit_json(output.to_dict(run))
    else:
        output.echo(f"Run {run.id} is {_state(run)}.")
