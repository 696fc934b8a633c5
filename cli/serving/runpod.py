"""The RunPod serving provider: the project's image serves the model in a RunPod pod.

In the pod, `mp deployments _serve` pulls the current round and the run's model with the
deployment's token, then runs the serve command; the CLI waits for the pod's public /ping.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from mlmp_cli import output
from mlmp_cli.context import Context

if TYPE_CHECKING:
    from mlmp_cli.project import Project
    from mlmp_cli.runpod_api import RunPodClient

RUNPOD_PROXY = "https://{pod_id}-{port}.proxy.runpod.net"  # RunPod's public URL of a pod's HTTP port


def runpod_endpoint(pod_id: str, port: int) -> str:
    template = os.environ.get("MP_RUNPOD_PROXY_URL", RUNPOD_PROXY)  # tests point it at a local fake
    return template.format(pod_id=pod_id, port=port)


def serve_on_runpod(
    ctx: Context, runpod: RunPodClient, deployment: Any, project: Project, gpu: str, env: dict[str, str], quiet: bool
) -> Any:
    """Creates the pod, waits for its /ping, marks the deployment live; the pod is terminated again
    if it never answers."""
    from mlmp_cli.runpod_api import RunPodError, pod_spec
    from mlmp_cli.serving.deployments import set_endpoint, transition
    from mlmp_cli.serving.ping import wait_for_ping

    try:
        command = ["mp", "deployments", "_serve", "--", *shlex.split(project.serve_command)]
        pod_env = {**env, "MP_API_URL": ctx.endpoint.api_url, "MP_MODEL_RUN": deployment.run_id}
        spec = pod_spec(name=f"mp-{deployment.id}", image=project.image, gpu=gpu, env=pod_env, command=command,
                        port=project.serve_port)  # fmt: skip
        pod = runpod.create_pod(spec)
    except RunPodError as error:
        raise click.ClickException(str(error)) from None
    endpoint = runpod_endpoint(pod["id"], project.serve_port)
    set_endpoint(ctx, deployment.id, endpoint)
    transition(ctx, deployment.id, "starting", external_id=pod["id"])
    if not quiet:
        output.note(
            f"deployment {deployment.id}: RunPod pod {pod['id']} ({gpu}, {project.image}); waiting for {endpoint}/ping"
        )

    def pod_problem() -> str:
        status = runpod.get_pod(pod["id"]).get("desiredStatus")
        return "" if status == "RUNNING" else f"the RunPod pod {pod['id']} is {status}"

    try:
        with output.waiting(f"waiting for the pod: {endpoint}/ping must answer 200", enabled=not quiet):
            wait_for_ping(endpoint, pod_problem, timeout=600)
    except BaseException:
        try:
            runpod.terminate_pod(pod["id"])
        except RunPodError as error:
            output.note(f"could not terminate pod {pod['id']}: {error}; terminate it in RunPod's console")
        raise
    return transition(ctx, deployment.id, "live")


def terminate(pod_id: str) -> None:
    from mlmp_cli.runpod_api import RunPodClient, RunPodError, api_key

    try:
        RunPodClient(api_key()).terminate_pod(pod_id)
    except RunPodError as error:
        raise click.ClickException(f"could not terminate RunPod pod {pod_id}: {error}") from None


def serve_in_pod(command: tuple[str, ...]) -> NoReturn:
    """Inside the pod: pulls the current round and the deployed run's model with the deployment's
    token, then replaces this process with the serve command."""
    from mlmp_cli.config import Credentials
    from mlmp_cli.project import rounds_folder
    from mlmp_cli.rounds.fetch import fetch_round
    from mlmp_cli.transfers.pull import pull_model, pull_round

    token = os.environ["MP_DEPLOYMENT_TOKEN"]
    credentials = Credentials(os.environ["MP_API_URL"], token, os.environ.get("MP_GRPC_TARGET", ""),
                              os.environ.get("MP_GRPC_SECURE") == "1")  # fmt: skip
    with Context(credentials) as ctx:
        round_ = fetch_round(ctx, 0)
        folder = rounds_folder(Path.cwd(), round_.number)
        pull_round(ctx, round_, folder, show_progress=False)
        env = {**os.environ, "MP_ROUND_DIR": str(folder), "MP_ROUND": str(round_.number)}
        run_id = os.environ.get("MP_MODEL_RUN", "")
        if run_id:  # the model of the deployed run, unless the image brings its own
            env["MP_MODEL_PATH"] = str(pull_model(ctx, run_id, Path.cwd() / ".mp" / "runs" / run_id / "artifacts"))
    os.execvpe(command[0], list(command), env)
