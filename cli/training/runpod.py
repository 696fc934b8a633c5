"""The RunPod training provider: `mp train start --provider runpod` trains in a RunPod GPU pod.

The CLI creates the run, a token for that run alone and a pod running the project's image; inside
the pod `mp train _remote` pulls the round and trains with the local executor. The CLI follows the
run to its end and terminates the pod.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from mlmp_cli import output
from mlmp_cli.context import Context
from mlmp_cli.training.runs import (
    EXIT_CODES,
    RunSpec,
    create_run,
    fail_run,
    finish,
    get_run,
    print_created,
    print_event,
    run_state,
)

if TYPE_CHECKING:
    from mlmp_cli.project import Project
    from mlmp_cli.runpod_api import RunPodClient


def train_on_runpod(ctx: Context, project: Project, round_: Any, spec: RunSpec, detach: bool, as_json: bool,
                    runpod: RunPodClient) -> None:  # fmt: skip
    """Creates the run, its token and the pod, then follows the run and exits with its outcome;
    with `detach`, returns once the pod is asked for."""
    from mlmp_cli.runpod_api import RunPodError, pod_spec
    from mlmp_marketplace.v1 import training_pb2

    run = create_run(ctx, project, round_.number, spec)
    token = ctx.call(ctx.training.IssueRunToken, training_pb2.IssueRunTokenRequest(run_id=run.id)).token
    env = {  # the run's own token: never the vendor's
        "MP_API_URL": ctx.endpoint.api_url, "MP_RUN_ID": run.id, "MP_TOKEN": token,
        "MP_ROUND": str(round_.number), "MP_HYPERPARAMETERS": json.dumps(spec.hyperparameters),
    }  # fmt: skip
    try:
        pod = runpod.create_pod(
            pod_spec(
                name=f"mp-{run.id}", image=project.image, gpu=spec.gpu, env=env, command=["mp", "train", "_remote"]
            )  # fmt: skip
        )
    except RunPodError as error:
        fail_run(ctx, run.id, str(error)[:2000])
        raise click.ClickException(f"{error}. Run {run.id} is marked failed.") from None
    output.note(f"run {run.id}: RunPod pod {pod['id']} ({spec.gpu}, {project.image})")
    if detach:
        print_created(run, as_json)
        return
    finish(ctx, run.id, _follow_pod(ctx, runpod, run.id, pod["id"], quiet=as_json), as_json)


def _follow_pod(ctx: Context, runpod: RunPodClient, run_id: str, pod_id: str, quiet: bool, every: float = 1.0) -> str:
    """Prints the run's events until it ends, then terminates the pod. A pod that stops first fails
    the run; Ctrl-C cancels the run and terminates the pod."""
    from mlmp_cli.runpod_api import RunPodError
    from mlmp_marketplace.v1 import training_pb2

    if not quiet:
        stream = ctx.training.WatchTrainingRun(training_pb2.WatchTrainingRunRequest(run_id=run_id),
                                               metadata=ctx.metadata)  # fmt: skip

        def show() -> None:
            import grpc

            try:
                for event in stream:
                    print_event(event, False)
            except grpc.RpcError:
                pass  # the channel closed as the command ends

        threading.Thread(target=show, daemon=True).start()
    state = "queued"
    try:
        while True:
            state = run_state(get_run(ctx, run_id))
            if state in EXIT_CODES:
                break
            pod = runpod.get_pod(pod_id)
            if pod.get("desiredStatus") in ("EXITED", "TERMINATED"):
                time.sleep(every)  # its last report may still be on the way
                state = run_state(get_run(ctx, run_id))
                if state not in EXIT_CODES:
                    fail_run(ctx, run_id, f"the RunPod pod {pod_id} stopped ({pod.get('desiredStatus')}) "
                                          "before the run ended")  # fmt: skip
                    state = "failed"
                break
            time.sleep(every)
    except KeyboardInterrupt:
        cancel = training_pb2.CancelTrainingRunRequest(run_id=run_id, reason="interrupted (Ctrl-C)")
        ctx.call(ctx.training.CancelTrainingRun, cancel)
        state = "cancelled"
    finally:
        try:
            runpod.terminate_pod(pod_id)
        except RunPodError as error:
            output.note(f"could not terminate pod {pod_id}: {error}; terminate it in RunPod's console")
    return state


def train_in_pod(ctx: Context, project: Project) -> str:
    """Inside the pod: pulls the round and trains, reporting with the run's own token (MP_TOKEN);
    returns the run's final state."""
    from mlmp_cli.rounds.fetch import fetch_round
    from mlmp_cli.training.local import artifact_folder, execute_run, pull_round_into_project

    run_id = os.environ["MP_RUN_ID"]
    round_ = fetch_round(ctx, int(os.environ.get("MP_ROUND", "0")))
    round_dir = pull_round_into_project(ctx, project, round_, quiet=True)
    hyperparameters = json.loads(os.environ.get("MP_HYPERPARAMETERS", "{}"))
    return execute_run(ctx, run_id, project, round_dir, artifact_folder(project, run_id), hyperparameters)
