"""The marketplace's record of a deployment, as `mp deploy`, `mp deployments` and the providers change it:
look-ups, lifecycle transitions, links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlmp_cli.context import Context
from mlmp_cli.exit_codes import CommandFailed, ExitCode

if TYPE_CHECKING:
    from mlmp_cli.project import Project


def get_deployment(ctx: Context, deployment_id: str) -> Any:
    from mlmp_marketplace.v1 import deployments_pb2

    request = deployments_pb2.GetDeploymentRequest(deployment_id=deployment_id)
    return ctx.call(ctx.deployments.GetDeployment, request)


def list_deployments(ctx: Context) -> Any:
    from mlmp_marketplace.v1 import deployments_pb2

    return ctx.call(ctx.deployments.ListDeployments, deployments_pb2.ListDeploymentsRequest(page_size=500)).deployments


def transition(ctx: Context, deployment_id: str, state: str, message: str = "", external_id: str = "") -> Any:
    """Moves the deployment to `state` ("starting", "live", "failed", "stopped"); the server checks the move."""
    from mlmp_cli.display import enum_value
    from mlmp_marketplace.v1 import deployments_pb2

    request = deployments_pb2.TransitionDeploymentRequest(
        deployment_id=deployment_id, state=enum_value(deployments_pb2.DeploymentState, state),
        message=message[:2000], external_id=external_id,
    )  # fmt: skip
    return ctx.call(ctx.deployments.TransitionDeployment, request)


def set_endpoint(ctx: Context, deployment_id: str, endpoint_url: str) -> Any:
    """Records where the deployment's inference server answers."""
    from mlmp_marketplace.v1 import deployments_pb2

    links = deployments_pb2.DeploymentLinks(endpoint_url=endpoint_url)
    request = deployments_pb2.UpdateDeploymentLinksRequest(deployment_id=deployment_id, links=links)
    return ctx.call(ctx.deployments.UpdateDeploymentLinks, request)


def model_run(ctx: Context, project: Project, run_id: str | None) -> Any:
    """The run whose model is deployed: the given one, else this project's newest succeeded run."""
    from mlmp_marketplace.v1 import training_pb2

    if run_id:
        return ctx.call(ctx.training.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
    listed = training_pb2.ListTrainingRunsRequest(state=training_pb2.RunState.RUN_STATE_SUCCEEDED, page_size=200)
    for run in ctx.call(ctx.training.ListTrainingRuns, listed).runs:
        if run.project == project.name:
            return run
    raise CommandFailed(
        f"no succeeded training run of {project.name} yet: train first with mp train start", ExitCode.NOT_FOUND
    )


def project_deployment(ctx: Context) -> str:
    """The id of the deployment named like the project in this folder (mp.yaml's name)."""
    from mlmp_cli.project import load_project

    project = load_project()
    for deployment in list_deployments(ctx):
        if deployment.name == project.name:
            return str(deployment.id)
    raise CommandFailed(
        f"no deployment of {project.name}; pass --deployment ID (mp deployments list)", ExitCode.NOT_FOUND
    )
