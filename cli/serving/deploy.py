"""Putting a trained model live and taking it down again, whichever provider serves it (local, RunPod).

The marketplace records the deployment first; the provider then starts the project's serve command
with the deployment's token in its environment, waits for /ping and marks it live. A failure on the
way marks the deployment failed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from mlmp_cli import output
from mlmp_cli.context import Context

if TYPE_CHECKING:
    from mlmp_cli.project import Project
    from mlmp_cli.runpod_api import RunPodClient


@dataclass(frozen=True)
class DeployOptions:
    """What `mp deploy` asks for."""

    provider: str  # "local" or "runpod"
    run_id: str | None  # None: the project's newest succeeded run
    name: str  # "": the project's name
    port: int | None  # local only; None: a free one
    gpu: str  # runpod only; already defaulted to mp.yaml's
    signal_interval: float


def deploy(ctx: Context, project: Project, options: DeployOptions, runpod: RunPodClient | None, as_json: bool) -> Any:
    """Registers a deployment of the run's model and serves it; returns the live deployment."""
    from mlmp_cli.project import rounds_folder
    from mlmp_cli.rounds.fetch import fetch_round
    from mlmp_cli.rounds.view import state_name
    from mlmp_cli.serving.deployments import model_run, transition
    from mlmp_cli.transfers.pull import pull_round
    from mlmp_marketplace.v1 import datasets_pb2, deployments_pb2

    run = model_run(ctx, project, options.run_id)
    round_ = fetch_round(ctx, 0)
    if round_.state != datasets_pb2.ROUND_STATE_OPEN and not as_json:
        output.note(f"warning: no round is open (the latest, {round_.number}, is {state_name(round_)}); the model's "
                    "signals are refused until one opens")  # fmt: skip
    if options.provider == "local":
        model = project.root / ".mp" / "runs" / run.id / "artifacts" / "model.json"
        if not model.exists():
            raise click.ClickException(f"run {run.id}'s model is not in this project ({model}); "
                                       "a model trained elsewhere deploys with --provider runpod")  # fmt: skip
        round_dir = rounds_folder(project.root, round_.number)
        pull_round(ctx, round_, round_dir, show_progress=not as_json)
    request = deployments_pb2.CreateDeploymentRequest(
        request_id=str(uuid.uuid4()), run_id=run.id, name=options.name or project.name, provider=options.provider
    )
    created = ctx.call(ctx.deployments.CreateDeployment, request)
    deployment, token = created.deployment, created.token
    env = {"MP_DEPLOYMENT_TOKEN": token, "MP_GRPC_TARGET": ctx.endpoint.grpc_target,
           "MP_GRPC_SECURE": "1" if ctx.endpoint.tls else "0", "MP_DEPLOYMENT_ID": deployment.id,
           "MP_SIGNAL_INTERVAL": str(options.signal_interval), "MP_MODEL_VERSION": run.id}  # fmt: skip
    try:
        if options.provider == "local":
            from mlmp_cli.serving.local import serve_locally

            env |= {"MP_MODEL_PATH": str(model), "MP_ROUND_DIR": str(round_dir), "MP_ROUND": str(round_.number)}
            return serve_locally(ctx, deployment, project, options.port, env, as_json)
        from mlmp_cli.serving.runpod import serve_on_runpod

        assert runpod is not None, "--provider runpod comes with a RunPod client"
        return serve_on_runpod(ctx, runpod, deployment, project, options.gpu, env, as_json)
    except (click.ClickException, KeyboardInterrupt) as error:
        reason = error.message if isinstance(error, click.ClickException) else "interrupted (Ctrl-C)"
        transition(ctx, deployment.id, "failed", reason)
        raise click.ClickException(f"deployment {deployment.id} failed: {reason}") from None


def stop_serving(deployment: Any) -> None:
    """Ends the deployment's server (the local process, or the RunPod pod); its record stays."""
    if deployment.provider == "local":
        from mlmp_cli.serving.local import LocalRecord, stop_local

        record = LocalRecord.load(deployment.id)
        if record is not None:
            stop_local(record)
    elif deployment.provider == "runpod" and deployment.external_id:
        from mlmp_cli.serving.runpod import terminate

        terminate(deployment.external_id)
