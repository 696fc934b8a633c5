"""`mp train`: a vendor's training runs: start, list, status, logs (live), cancel."""

from __future__ import annotations

import sys

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import enum_value, when
from mlmp_cli.output import json_option


@click.group()
def train() -> None:
    """Training runs: what you trained, against which round, how it went."""


@train.command("list")
@click.option("--status", "state", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled", "lost"]),
              help="Only runs in this state.")  # fmt: skip
@click.option("--round", "round_number", type=click.IntRange(min=1), help="Only runs against this round.")
@json_option
@pass_context
def list_runs(ctx: Context, state: str | None, round_number: int | None, as_json: bool) -> None:
    """Your runs, newest first.

    \b
    Examples:
      mp train list
      mp train list --status running --round 12 --json
    """
    from mlmp_cli.training.runs import run_state
    from mlmp_marketplace.v1 import training_pb2

    request = training_pb2.ListTrainingRunsRequest(round_number=round_number or 0, page_size=200)
    if state:
        request.state = enum_value(training_pb2.RunState, state)
    runs = ctx.call(ctx.training.ListTrainingRuns, request).runs
    if as_json:
        output.emit_json([output.to_dict(run) for run in runs])
        return
    output.table(
        ["RUN", "STATE", "ROUND", "TASK", "PROVIDER", "CREATED", "METRICS"],
        [
            (
                r.id,
                run_state(r),
                r.round_number,
                r.task,
                r.provider,
                when(r.create_time, seconds=True),
                " ".join(f"{k}={v:.4g}" for k, v in sorted(r.latest_metrics.items())),
            )
            for r in runs
        ],  # fmt: skip
        empty="No training runs yet.",
    )


@train.command()
@click.argument("run_id")
@json_option
@pass_context
def status(ctx: Context, run_id: str, as_json: bool) -> None:
    """State, hyperparameters, latest metrics, artifact and timings of RUN_ID.

    \b
    Examples:
      mp train status run_123
      mp train status run_123 --json
    """
    from google.protobuf import json_format

    from mlmp_cli.training.runs import get_run, run_state

    run = get_run(ctx, run_id)
    if as_json:
        output.emit_json(output.to_dict(run))
        return
    output.echo(f"Run {run.id}: {run_state(run)}" + (f" ({run.message})" if run.message else ""))
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
    output.echo(f"Created {when(run.create_time, seconds=True)}, started {when(run.start_time, seconds=True)}, "
                f"ended {when(run.end_time, seconds=True)} (UTC)")  # fmt: skip


@train.command()
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep streaming until the run ends; exit with its outcome.")
@json_option
@pass_context
def logs(ctx: Context, run_id: str, follow: bool, as_json: bool) -> None:
    """Events of RUN_ID: state changes, metrics, log lines.

    With --follow the exit code is the run's outcome: 0 succeeded, 1 failed, 130 cancelled, 3 lost.

    \b
    Examples:
      mp train logs run_123
      mp train logs run_123 --follow
    """
    from mlmp_cli.training.runs import EXIT_CODES, get_run, run_state, show_events

    show_events(ctx, run_id, follow, as_json)
    run = get_run(ctx, run_id)
    if follow:
        sys.exit(EXIT_CODES.get(run_state(run), 0))


@train.command()
@click.argument("run_id")
@click.option("--reason", default="cancelled by the vendor", help="Kept with the run.")
@json_option
@pass_context
def cancel(ctx: Context, run_id: str, reason: str, as_json: bool) -> None:
    """Cancel RUN_ID; its executor stops at its next heartbeat.

    \b
    Examples:
      mp train cancel run_123
      mp train cancel run_123 --reason "wrong round"
    """
    from mlmp_cli.training.runs import run_state
    from mlmp_marketplace.v1 import training_pb2

    request = training_pb2.CancelTrainingRunRequest(run_id=run_id, reason=reason)
    run = ctx.call(ctx.training.CancelTrainingRun, request)
    if as_json:
        output.emit_json(output.to_dict(run))
    else:
        output.echo(f"Run {run.id} is {run_state(run)}.")


def _hyperparameters(texts: tuple[str, ...]) -> dict[str, object]:
    from mlmp_cli.project import parse_hyperparameters  # not at import: mp.yaml's parser is no part of `mp --help`

    return parse_hyperparameters(texts)


@train.command()
@click.option("--task", help="What the model does (default: mp.yaml's task, e.g. signal).")
@click.option("--round", "round_ref", default="current", show_default=True, help="'current' or a round number.")
@click.option(
    "--hp",
    "hps",
    multiple=True,
    metavar="NAME=VALUE",
    callback=lambda _ctx, _param, texts: _hyperparameters(texts),
    help="A hyperparameter (repeatable, each name once): lr=0.001 is a number, layers=[64,32] a list, else a string.",
)
@click.option(
    "--provider",
    type=click.Choice(["local", "runpod"]),
    default="local",
    show_default=True,
    help="Where to train: this machine, or a RunPod GPU pod.",
)
@click.option("--gpu", default="", help="GPU type for --provider runpod, e.g. 'NVIDIA A40'.")
@click.option("--detach", is_flag=True, help="Print the run id once the run exists; train in the background.")
@json_option
@pass_context
def start(ctx: Context, task, round_ref, hps, provider, gpu, detach, as_json) -> None:  # fmt: skip
    """Train the project in this folder (mp.yaml) against a round, recorded as a run.

    Pulls the round's files if needed, creates the run, runs mp.yaml's train command with the round's
    folder, the hyperparameters and an artifact folder in its environment, streams its output and
    metrics to the run, uploads the model it writes, and exits with the run's outcome (0 succeeded,
    1 failed, 130 cancelled). Ctrl-C cancels the run.

    \b
    Examples:
      mp train start --hp l2=0.5
      mp train start --round 12 --hp lr=0.001 --hp layers=[64,32] --detach
      mp train start --provider runpod --gpu "NVIDIA A40"
    """
    from mlmp_cli.project import load_project
    from mlmp_cli.rounds.fetch import fetch_round, parse_round
    from mlmp_cli.training.runs import RunSpec

    project = load_project()
    hyperparameters = hps  # parsed by --hp's callback
    runpod = None
    if provider == "runpod":
        from mlmp_cli.runpod_api import client_for

        gpu = gpu or project.gpu
        runpod = client_for(project, gpu)  # a missing image, GPU or key is said before anything is created
    round_ = fetch_round(ctx, parse_round(round_ref))
    spec = RunSpec(task, provider, gpu, hyperparameters)
    if runpod is None:
        from mlmp_cli.training.local import train_locally

        train_locally(ctx, project, round_, spec, detach, as_json)
    else:
        from mlmp_cli.training.runpod import train_on_runpod

        train_on_runpod(ctx, project, round_, spec, detach, as_json, runpod)


@train.command("_execute", hidden=True)
@click.argument("run_id")
@click.option("--round-dir", type=click.Path(path_type=__import__("pathlib").Path), required=True)
@click.option("--artifact-dir", type=click.Path(path_type=__import__("pathlib").Path), required=True)
@click.option("--hyperparameters", default="{}")
@pass_context
def execute(ctx: Context, run_id, round_dir, artifact_dir, hyperparameters) -> None:  # fmt: skip
    """The background half of `mp train start --detach`."""
    import json

    from mlmp_cli.project import load_project
    from mlmp_cli.training.local import execute_run
    from mlmp_cli.training.runs import EXIT_CODES

    state = execute_run(ctx, run_id, load_project(), round_dir, artifact_dir, json.loads(hyperparameters))
    sys.exit(EXIT_CODES.get(state, 1))


@train.command("_remote", hidden=True)
@pass_context
def remote(ctx: Context) -> None:
    """Inside a RunPod pod: pull the round and train, reporting with the run's own token."""
    from mlmp_cli.project import load_project
    from mlmp_cli.training.runpod import train_in_pod
    from mlmp_cli.training.runs import EXIT_CODES

    # MP_API_URL and MP_TOKEN (the run token) come from the pod's environment.
    sys.exit(EXIT_CODES.get(train_in_pod(ctx, load_project()), 1))
