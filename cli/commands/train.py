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


@train.command()
@click.option("--task", help="What the model does (default: mp.yaml's task, e.g. signal).")
@click.option("--round", "round_ref", default="current", show_default=True, help="'current' or a round number.")
@click.option(
    "--hp",
    "hps",
    multiple=True,
    metavar="NAME=VALUE",
    help="A hyperparameter (repeatable): lr=0.001 is a number, layers=[64,32] a list, else a string.",
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
def start(task, round_ref, hps, provider, gpu, detach, as_json) -> None:  # fmt: skip
    """Train the project in this folder (mp.yaml) against a round, recorded as a run.

    Pulls the round's files if needed, creates the run, runs mp.yaml's train command with the round's
    folder, the hyperparameters and an artifact folder in its environment, streams its output and
    metrics to the run, uploads the model it writes, and exits with the run's outcome (0 succeeded,
    1 failed, 130 cancelled). Ctrl-C cancels the run.
    """
    import json
    import uuid

    from google.protobuf import json_format, struct_pb2

    from cli.client import open_session
    from cli.project import load_project, parse_hyperparameter
    from cli.rounds_view import fetch_round, parse_round
    from marketplace.v1 import training_pb2

    project = load_project()
    hyperparameters = dict(parse_hyperparameter(text) for text in hps)
    if provider == "runpod":
        _start_on_runpod(project, round_ref, task, hyperparameters, gpu or project.gpu, detach, as_json)
        return
    with open_session() as session:
        round_ = fetch_round(session, parse_round(round_ref))
        round_dir = _pull_round(session, round_, project.root / ".mp" / "rounds" / f"round-{round_.number}", as_json)
        request = training_pb2.CreateTrainingRunRequest(
            request_id=str(uuid.uuid4()), task=task or project.task, round_number=round_.number, provider=provider,
            gpu_type=gpu, project=project.name,
        )  # fmt: skip
        for key, value in hyperparameters.items():
            request.hyperparameters[key].CopyFrom(json_format.ParseDict(value, struct_pb2.Value()))  # type: ignore[arg-type]
        run = session.call(_stub(session).CreateTrainingRun, request)
        artifact_dir = project.root / ".mp" / "runs" / run.id / "artifacts"
        if detach:
            _spawn_executor(run.id, project.root, round_dir, artifact_dir, json.dumps(hyperparameters))
            output.emit_json(output.to_dict(run)) if as_json else output.echo(run.id)
            return
        output.note(f"run {run.id}: training {project.name} on round {round_.number} ({project.train_command})")
        state = _execute_run(session, run.id, project, round_dir, artifact_dir, hyperparameters, quiet=as_json)
        final = session.call(_stub(session).GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run.id))
    if as_json:
        output.emit_json(output.to_dict(final))
    else:
        output.echo(f"Run {run.id} {state}." + (f" {final.message}" if final.message and state != "succeeded" else ""))
    sys.exit(EXIT_CODES.get(state, 1))


@train.command("_execute", hidden=True)
@click.argument("run_id")
@click.option("--round-dir", type=click.Path(path_type=__import__("pathlib").Path), required=True)
@click.option("--artifact-dir", type=click.Path(path_type=__import__("pathlib").Path), required=True)
@click.option("--hyperparameters", default="{}")
def execute(run_id, round_dir, artifact_dir, hyperparameters) -> None:  # fmt: skip
    """The background half of `mp train start --detach`."""
    import json

    from cli.client import open_session
    from cli.project import load_project

    with open_session() as session:
        state = _execute_run(session, run_id, load_project(), round_dir, artifact_dir, json.loads(hyperparameters))
    sys.exit(EXIT_CODES.get(state, 1))


def _execute_run(session, run_id, project, round_dir, artifact_dir, hyperparameters, quiet: bool = False) -> str:
    from cli.executor import LocalExecutor

    executor = LocalExecutor(
        call=session.call, stub=_stub(session), run_id=run_id, command=project.train_command, cwd=project.root,
        round_dir=round_dir, artifact_dir=artifact_dir, hyperparameters=hyperparameters,
        echo=(lambda _line: None) if quiet else output.note,
    )  # fmt: skip
    return executor.run()


def _pull_round(session, round_, folder, quiet: bool):
    """The round's files in `folder` (downloaded or resumed as needed, sha256 checked)."""
    from cli.pull import pull_round

    pull_round(session, round_, folder, show_progress=not quiet)
    return folder


def _spawn_executor(run_id, root, round_dir, artifact_dir, hyperparameters_json) -> None:
    import subprocess

    log = root / ".mp" / "runs" / run_id / "executor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        subprocess.Popen(
            [sys.executable, "-c", "from cli.main import main; main()", "train", "_execute", run_id,
             "--round-dir", str(round_dir), "--artifact-dir", str(artifact_dir), "--hyperparameters",
             hyperparameters_json],
            cwd=root, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip


def _start_on_runpod(project, round_ref, task, hyperparameters, gpu, detach, as_json) -> None:
    """Creates the run, a token for it alone, and a RunPod pod that trains; follows it to the end."""
    import json
    import uuid

    from google.protobuf import json_format, struct_pb2

    from cli.client import open_session
    from cli.rounds_view import fetch_round, parse_round
    from cli.runpod import RunPodError, client_for, pod_spec
    from marketplace.v1 import training_pb2

    runpod = client_for(project, gpu)
    with open_session() as session:
        stub = _stub(session)
        round_ = fetch_round(session, parse_round(round_ref))
        request = training_pb2.CreateTrainingRunRequest(
            request_id=str(uuid.uuid4()), task=task or project.task, round_number=round_.number, provider="runpod",
            gpu_type=gpu, project=project.name,
        )  # fmt: skip
        for key, value in hyperparameters.items():
            request.hyperparameters[key].CopyFrom(json_format.ParseDict(value, struct_pb2.Value()))  # type: ignore[arg-type]
        run = session.call(stub.CreateTrainingRun, request)
        token = session.call(stub.IssueRunToken, training_pb2.IssueRunTokenRequest(run_id=run.id)).token
        env = {  # the run's own token: never the vendor's
            "MP_API_URL": session.endpoint.api_url, "MP_RUN_ID": run.id, "MP_TOKEN": token,
            "MP_ROUND": str(round_.number), "MP_HYPERPARAMETERS": json.dumps(hyperparameters),
        }  # fmt: skip
        try:
            pod = runpod.create_pod(
                pod_spec(name=f"mp-{run.id}", image=project.image, gpu=gpu, env=env, command=["mp", "train", "_remote"])
            )
        except RunPodError as error:
            failed = training_pb2.TransitionTrainingRunRequest(
                run_id=run.id, state=training_pb2.RunState.RUN_STATE_FAILED, message=str(error)[:2000]
            )
            session.call(stub.TransitionTrainingRun, failed)
            raise click.ClickException(f"{error}. Run {run.id} is marked failed.") from None
        output.note(f"run {run.id}: RunPod pod {pod['id']} ({gpu}, {project.image})")
        if detach:
            output.emit_json(output.to_dict(run)) if as_json else output.echo(run.id)
            return
        state = _follow_pod(session, runpod, run.id, pod["id"], quiet=as_json)
        final = session.call(stub.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run.id))
    if as_json:
        output.emit_json(output.to_dict(final))
    else:
        output.echo(f"Run {run.id} {state}." + (f" {final.message}" if final.message and state != "succeeded" else ""))
    sys.exit(EXIT_CODES.get(state, 1))


def _follow_pod(session, runpod, run_id: str, pod_id: str, quiet: bool, every: float = 1.0) -> str:
    """Prints the run's events until it ends, then terminates the pod. A pod that stops first fails
    the run; Ctrl-C cancels the run and terminates the pod."""
    import threading
    import time

    from cli.runpod import RunPodError
    from marketplace.v1 import training_pb2

    stub = _stub(session)
    if not quiet:
        watch = training_pb2.WatchTrainingRunRequest(run_id=run_id)
        stream = stub.WatchTrainingRun(watch, metadata=session.metadata)

        def show() -> None:
            import grpc

            try:
                for event in stream:
                    _print_event(event, False)
            except grpc.RpcError:
                pass  # the channel closed as the command ends

        threading.Thread(target=show, daemon=True).start()
    state = "queued"
    try:
        while True:
            run = session.call(stub.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
            state = _state(run)
            if state in EXIT_CODES:
                break
            pod = runpod.get_pod(pod_id)
            if pod.get("desiredStatus") in ("EXITED", "TERMINATED"):
                time.sleep(every)  # its last report may still be on the way
                run = session.call(stub.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
                state = _state(run)
                if state not in EXIT_CODES:
                    message = f"the RunPod pod {pod_id} stopped ({pod.get('desiredStatus')}) before the run ended"
                    session.call(stub.TransitionTrainingRun, training_pb2.TransitionTrainingRunRequest(
                        run_id=run_id, state=training_pb2.RunState.RUN_STATE_FAILED, message=message))  # fmt: skip
                    state = "failed"
                break
            time.sleep(every)
    except KeyboardInterrupt:
        cancel = training_pb2.CancelTrainingRunRequest(run_id=run_id, reason="interrupted (Ctrl-C)")
        session.call(stub.CancelTrainingRun, cancel)
        state = "cancelled"
    finally:
        try:
            runpod.terminate_pod(pod_id)
        except RunPodError as error:
            output.note(f"could not terminate pod {pod_id}: {error}; terminate it in RunPod's console")
    return state


@train.command("_remote", hidden=True)
def remote() -> None:
    """Inside a RunPod pod: pull the round and train, reporting with the run's own token."""
    import json
    import os

    from cli.client import open_session
    from cli.project import load_project
    from cli.rounds_view import fetch_round

    run_id = os.environ["MP_RUN_ID"]
    project = load_project()
    with open_session() as session:  # MP_API_URL and MP_TOKEN (the run token) from the pod's environment
        round_ = fetch_round(session, int(os.environ.get("MP_ROUND", "0")))
        round_dir = _pull_round(session, round_, project.root / ".mp" / "rounds" / f"round-{round_.number}", True)
        artifacts = project.root / ".mp" / "runs" / run_id / "artifacts"
        state = _execute_run(session, run_id, project, round_dir, artifacts,
                             json.loads(os.environ.get("MP_HYPERPARAMETERS", "{}")))  # fmt: skip
    sys.exit(EXIT_CODES.get(state, 1))
