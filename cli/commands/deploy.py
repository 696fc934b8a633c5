"""`mp deploy` and `mp link-infra`: put a trained model live, and deliver its signals to other infrastructure."""

from __future__ import annotations

from pathlib import Path

import click

from cli import output
from cli.output import json_option


def deployment_stub(session):
    from marketplace.v1 import deployments_pb2_grpc

    return deployments_pb2_grpc.DeploymentServiceStub(session.channel)


def state_name(deployment) -> str:
    from marketplace.v1 import deployments_pb2

    return deployments_pb2.DeploymentState.Name(deployment.state).removeprefix("DEPLOYMENT_STATE_").lower()


def _transition(session, deployment_id: str, state: str, message: str = "", external_id: str = ""):
    from marketplace.v1 import deployments_pb2

    request = deployments_pb2.TransitionDeploymentRequest(
        deployment_id=deployment_id, state=deployments_pb2.DeploymentState.Value(f"DEPLOYMENT_STATE_{state.upper()}"),
        message=message[:2000], external_id=external_id,
    )  # fmt: skip
    return session.call(deployment_stub(session).TransitionDeployment, request)


def _model_run(session, project, run_id: str | None):
    """The run whose model is deployed: the given one, else this project's newest succeeded run."""
    from marketplace.v1 import training_pb2, training_pb2_grpc

    stub = training_pb2_grpc.TrainingServiceStub(session.channel)
    if run_id:
        return session.call(stub.GetTrainingRun, training_pb2.GetTrainingRunRequest(run_id=run_id))
    listed = training_pb2.ListTrainingRunsRequest(state=training_pb2.RunState.RUN_STATE_SUCCEEDED, page_size=200)
    for run in session.call(stub.ListTrainingRuns, listed).runs:
        if run.project == project.name:
            return run
    raise click.ClickException(f"no succeeded training run of {project.name} yet: train first with mp train start")


@click.command()
@click.option("--provider", type=click.Choice(["local", "runpod"]), default="local", show_default=True,
              help="Serve on this machine, or in a RunPod pod.")  # fmt: skip
@click.option(
    "--run", "run_id", help="The training run whose model to serve. Default: the project's newest succeeded run."
)
@click.option("--name", default="", help="A name for the deployment. Default: the project's name.")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Local port. Default: a free one (runpod: mp.yaml's serve.port)."
)
@click.option("--gpu", default="", help="GPU type for --provider runpod. Default: mp.yaml's resources.gpu.")
@click.option("--signal-interval", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds between the model's signal rounds.")  # fmt: skip
@json_option
def deploy(provider, run_id, name, port, gpu, signal_interval, as_json) -> None:  # fmt: skip
    """Serve the project's model and stream its signals into the marketplace.

    Registers a deployment, starts mp.yaml's serve command with the deployment's token in its
    environment (and nowhere else), waits for its /ping to answer 200, then marks it live. Its signals
    go to the marketplace, which delivers them to URLs linked with `mp link-infra`. Stop it with
    `mp deployments stop`.
    """
    import uuid

    from cli.client import open_session
    from cli.project import load_project
    from cli.pull import pull_round
    from cli.rounds_view import fetch_round
    from marketplace.v1 import datasets_pb2, deployments_pb2

    project = load_project()
    if not project.serve_command:
        raise click.ClickException("mp.yaml has no serve.command; add one (e.g. `python serve.py`)")
    gpu = gpu or project.gpu
    if provider == "runpod":
        from cli.runpod import client_for

        runpod = client_for(project, gpu)  # a missing image, GPU or key is said before anything is created
    with open_session() as session:
        run = _model_run(session, project, run_id)
        round_ = fetch_round(session, 0)
        if round_.state != datasets_pb2.ROUND_STATE_OPEN and not as_json:
            state = datasets_pb2.RoundState.Name(round_.state).removeprefix("ROUND_STATE_").lower()
            output.note(f"warning: no round is open (the latest, {round_.number}, is {state}); the model's "
                        "signals are refused until one opens")  # fmt: skip
        if provider == "local":
            model = project.root / ".mp" / "runs" / run.id / "artifacts" / "model.json"
            if not model.exists():
                raise click.ClickException(f"run {run.id}'s model is not in this project ({model}); "
                                           "a model trained elsewhere deploys with --provider runpod")  # fmt: skip
            round_dir = project.root / ".mp" / "rounds" / f"round-{round_.number}"
            pull_round(session, round_, round_dir, show_progress=not as_json)
        request = deployments_pb2.CreateDeploymentRequest(
            request_id=str(uuid.uuid4()), run_id=run.id, name=name or project.name, provider=provider
        )
        created = session.call(deployment_stub(session).CreateDeployment, request)
        deployment, token = created.deployment, created.token
        env = {"MP_DEPLOYMENT_TOKEN": token, "MP_GRPC_TARGET": session.endpoint.grpc_target,
               "MP_GRPC_SECURE": "1" if session.endpoint.tls else "0", "MP_DEPLOYMENT_ID": deployment.id,
               "MP_SIGNAL_INTERVAL": str(signal_interval), "MP_MODEL_VERSION": run.id}  # fmt: skip
        try:
            if provider == "local":
                env |= {"MP_MODEL_PATH": str(model), "MP_ROUND_DIR": str(round_dir), "MP_ROUND": str(round_.number)}
                live = _deploy_local(session, deployment, project, port, env, as_json)
            else:
                live = _deploy_runpod(session, runpod, deployment, project, gpu, env, as_json)
        except (click.ClickException, KeyboardInterrupt) as error:
            reason = error.message if isinstance(error, click.ClickException) else "interrupted (Ctrl-C)"
            _transition(session, deployment.id, "failed", reason)
            raise click.ClickException(f"deployment {deployment.id} failed: {reason}") from None
    if as_json:
        output.emit_json(output.to_dict(live))
        return
    output.echo(f"Deployment {live.id} is live at {live.links.endpoint_url} (model of run {run.id}).")
    output.note("Its signals stream to the marketplace. Next: mp signals tail · mp deployments status "
                f"{live.id} · mp deployments logs {live.id} · mp deployments stop {live.id}")  # fmt: skip


def _deploy_local(session, deployment, project, port, env, quiet: bool):
    from cli.progress import waiting
    from cli.serving import LocalRecord, alive, free_port, log_tail, start_local, wait_for_ping
    from marketplace.v1 import deployments_pb2

    port = port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    _links(session, deployment.id, deployments_pb2.DeploymentLinks(endpoint_url=endpoint))
    _transition(session, deployment.id, "starting")
    record = start_local(deployment.id, project.serve_command, project.root, port, env)
    if not quiet:
        output.note(
            f"deployment {deployment.id}: starting `{project.serve_command}` on port {port} (log: {record.log})"
        )

    def exited() -> str:
        if alive(record.pid):
            return ""
        return "the inference server exited before answering /ping:\n" + log_tail(Path(record.log))

    try:
        with waiting(f"waiting for {endpoint}/ping to answer 200 (the model is loading)", enabled=not quiet):
            wait_for_ping(endpoint, exited)
    except BaseException:
        from cli.serving import stop_local

        stop_local(LocalRecord.load(deployment.id) or record)
        raise
    return _transition(session, deployment.id, "live", external_id=f"pid:{record.pid}")


def _deploy_runpod(session, runpod, deployment, project, gpu, env, quiet: bool):
    import shlex

    from cli.progress import waiting
    from cli.runpod import RunPodError, pod_spec
    from cli.serving import runpod_endpoint, wait_for_ping
    from marketplace.v1 import deployments_pb2

    try:
        # In the pod, `mp deployments _serve` pulls the current round and the run's model with the
        # deployment's token, then serves.
        command = ["mp", "deployments", "_serve", "--", *shlex.split(project.serve_command)]
        pod_env = {**env, "MP_API_URL": session.endpoint.api_url, "MP_MODEL_RUN": deployment.run_id}
        spec = pod_spec(name=f"mp-{deployment.id}", image=project.image, gpu=gpu, env=pod_env, command=command,
                        port=project.serve_port)  # fmt: skip
        pod = runpod.create_pod(spec)
    except RunPodError as error:
        raise click.ClickException(str(error)) from None
    endpoint = runpod_endpoint(pod["id"], project.serve_port)
    _links(session, deployment.id, deployments_pb2.DeploymentLinks(endpoint_url=endpoint))
    _transition(session, deployment.id, "starting", external_id=pod["id"])
    if not quiet:
        output.note(
            f"deployment {deployment.id}: RunPod pod {pod['id']} ({gpu}, {project.image}); waiting for {endpoint}/ping"
        )

    def pod_problem() -> str:
        status = runpod.get_pod(pod["id"]).get("desiredStatus")
        return "" if status == "RUNNING" else f"the RunPod pod {pod['id']} is {status}"

    try:
        with waiting(f"waiting for the pod: {endpoint}/ping must answer 200", enabled=not quiet):
            wait_for_ping(endpoint, pod_problem, timeout=600)
    except BaseException:
        try:
            runpod.terminate_pod(pod["id"])
        except RunPodError as error:
            output.note(f"could not terminate pod {pod['id']}: {error}; terminate it in RunPod's console")
        raise
    return _transition(session, deployment.id, "live")


def _links(session, deployment_id: str, links):
    from marketplace.v1 import deployments_pb2

    request = deployments_pb2.UpdateDeploymentLinksRequest(deployment_id=deployment_id, links=links)
    return session.call(deployment_stub(session).UpdateDeploymentLinks, request)


VERIFY_HINT = (
    "Each delivery is an HTTP POST of JSON (a SignalDelivery) with X-MP-Delivery-Id and\n"
    'X-MP-Signature: t=TIMESTAMP,v1=HEX, where HEX = HMAC-SHA256(secret, TIMESTAMP + "." + raw body).\n'
    "Check it in constant time, reject old timestamps, de-duplicate on X-MP-Delivery-Id and answer 2xx;\n"
    'anything else is retried with back-off. The README\'s "Signal deliveries" has a 10-line receiver.'
)


@click.command("link-infra")
@click.option("--deployment", "deployment_id", help="Default: the project's deployment (by mp.yaml's name).")
@click.option("--add", "add_url", metavar="URL",
              help="Link an http(s) URL: the marketplace POSTs the deployment's signals there, signed.")  # fmt: skip
@click.option("--remove", "remove_url", metavar="URL", help="Unlink a URL: nothing more is delivered to it.")
@click.option("--signals-url", "--signals-target", "old_option", hidden=True)
@json_option
def link_infra(deployment_id, add_url, remove_url, old_option, as_json) -> None:  # fmt: skip
    """Deliver a deployment's signals to your own infrastructure, from the marketplace.

    The deployment sends its signals, and its token, to the marketplace only. The marketplace stores
    them, then POSTs each new batch as JSON to every linked URL, signed with a secret printed once
    when the URL is linked, and retries with back-off until the URL answers 2xx. Without --add or
    --remove, lists the linked URLs and how far their deliveries got (also in `mp deployments status`).

    \b
    Examples:
      mp link-infra --add https://infra.example.com/mp/signals
      mp link-infra --deployment dep_123 --remove https://infra.example.com/mp/signals
    """
    from cli.client import open_session
    from marketplace.v1 import deployments_pb2

    if old_option is not None:
        raise click.UsageError(
            "--signals-url and --signals-target are gone: a deployment sends its signals to the marketplace "
            "only, and the marketplace delivers them to URLs linked with --add URL (HTTP POST, signed)"
        )
    if add_url and remove_url:
        raise click.UsageError("give --add or --remove, not both")
    with open_session() as session:
        deployment_id = deployment_id or _project_deployment(session)
        stub = deployment_stub(session)
        if add_url:
            added = session.call(
                stub.AddSignalDestination,
                deployments_pb2.AddSignalDestinationRequest(deployment_id=deployment_id, url=add_url),
            )
            updated = added.deployment
        elif remove_url:
            updated = session.call(
                stub.RemoveSignalDestination,
                deployments_pb2.RemoveSignalDestinationRequest(deployment_id=deployment_id, url=remove_url),
            )
        else:
            updated = session.call(
                stub.GetDeployment, deployments_pb2.GetDeploymentRequest(deployment_id=deployment_id)
            )
    if as_json:
        output.emit_json(output.to_dict(added if add_url else updated))
        return
    if add_url:
        output.echo(f"Linked {added.destination.url} to deployment {updated.id}: the marketplace delivers the "
                    "signals it stores from now on.")  # fmt: skip
        output.note("Signing secret (shown once; keep it with the receiver, link the URL again for a new one):")
        output.echo(added.signing_secret)
        output.note(VERIFY_HINT)
        if added.destination.url.startswith("http://"):
            output.note("warning: over http:// the signals travel unencrypted (the signature still proves who "
                        "sent them); use https:// outside your own network")  # fmt: skip
    elif remove_url:
        output.echo(f"Unlinked {remove_url} from deployment {updated.id}; its signals stay in the marketplace.")
    else:
        delivery_table(updated)


def delivery_table(deployment) -> None:
    output.table(
        ["URL", "DELIVERY", "DELIVERED THROUGH", "ATTEMPTS", "LAST ATTEMPT", "LAST ERROR"],
        [(d.url, delivery_state(d), d.delivered_through or "-", d.attempts, when(d.last_attempt_time),
          d.last_error or "-") for d in deployment.deliveries],
        empty=f"No destinations: deployment {deployment.id}'s signals stay in the marketplace. "
              "Link one with: mp link-infra --add URL",
    )  # fmt: skip


def delivery_state(delivery) -> str:
    from marketplace.v1 import deployments_pb2

    return deployments_pb2.LinkDeliveryState.Name(delivery.state).removeprefix("LINK_DELIVERY_STATE_").lower()


def when(stamp) -> str:
    return stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%S") if stamp.seconds else "-"


def _project_deployment(session) -> str:
    from cli.project import load_project
    from marketplace.v1 import deployments_pb2

    project = load_project()
    listed = session.call(
        deployment_stub(session).ListDeployments, deployments_pb2.ListDeploymentsRequest(page_size=500)
    )
    for deployment in listed.deployments:
        if deployment.name == project.name:
            return deployment.id
    raise click.ClickException(f"no deployment of {project.name}; pass --deployment ID (mp deployments list)")
