"""`mp deploy` and `mp link-infra`: put a trained model live, and deliver its signals to other infrastructure."""

from __future__ import annotations

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.output import json_option


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
@pass_context
def deploy(ctx: Context, provider, run_id, name, port, gpu, signal_interval, as_json) -> None:  # fmt: skip
    """Serve the project's model and stream its signals into the marketplace.

    Registers a deployment, starts mp.yaml's serve command with the deployment's token in its
    environment (and nowhere else), waits for its /ping to answer 200, then marks it live. Its signals
    go to the marketplace, which delivers them to URLs linked with `mp link-infra`. Stop it with
    `mp deployments stop`.

    \b
    Examples:
      mp deploy
      mp deploy --run run_123 --port 8080 --signal-interval 30
      mp deploy --provider runpod --gpu "NVIDIA A40"
    """
    from mlmp_cli.project import load_project
    from mlmp_cli.serving.deploy import DeployOptions
    from mlmp_cli.serving.deploy import deploy as serve

    project = load_project()
    if not project.serve_command:
        raise click.ClickException("mp.yaml has no serve.command; add one (e.g. `python serve.py`)")
    gpu = gpu or project.gpu
    runpod = None
    if provider == "runpod":
        from mlmp_cli.runpod_api import client_for

        runpod = client_for(project, gpu)  # a missing image, GPU or key is said before anything is created
    live = serve(ctx, project, DeployOptions(provider, run_id, name, port, gpu, signal_interval), runpod, as_json)
    if as_json:
        output.emit_json(output.to_dict(live))
        return
    output.echo(f"Deployment {live.id} is live at {live.links.endpoint_url} (model of run {live.run_id}).")
    output.note("Its signals stream to the marketplace. Next: mp signals tail · mp deployments status "
                f"{live.id} · mp deployments logs {live.id} · mp deployments stop {live.id}")  # fmt: skip


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
@pass_context
def link_infra(ctx: Context, deployment_id, add_url, remove_url, old_option, as_json) -> None:  # fmt: skip
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
    from mlmp_cli.serving.deployments import get_deployment, project_deployment
    from mlmp_cli.serving.view import delivery_table
    from mlmp_marketplace.v1 import deployments_pb2

    if old_option is not None:
        raise click.UsageError(
            "--signals-url and --signals-target are gone: a deployment sends its signals to the marketplace "
            "only, and the marketplace delivers them to URLs linked with --add URL (HTTP POST, signed)"
        )
    if add_url and remove_url:
        raise click.UsageError("give --add or --remove, not both")
    deployment_id = deployment_id or project_deployment(ctx)
    if add_url:
        added = ctx.call(
            ctx.deployments.AddSignalDestination,
            deployments_pb2.AddSignalDestinationRequest(deployment_id=deployment_id, url=add_url),
        )
        updated = added.deployment
    elif remove_url:
        updated = ctx.call(
            ctx.deployments.RemoveSignalDestination,
            deployments_pb2.RemoveSignalDestinationRequest(deployment_id=deployment_id, url=remove_url),
        )
    else:
        updated = get_deployment(ctx, deployment_id)
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
