"""`mp deployments`: a vendor's deployments: list, status, logs, stop, delete, rotate-token."""

from __future__ import annotations

import click

from mlmp_cli import output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import when
from mlmp_cli.output import json_option
from mlmp_cli.serving.view import delivery_table, state_name


@click.group()
def deployments() -> None:
    """Your deployments: where they serve, whether they are healthy, what they sent."""


@deployments.command("list")
@json_option
@pass_context
def list_deployments(ctx: Context, as_json: bool) -> None:
    """Your deployments, newest first.

    \b
    Examples:
      mp deployments list
      mp deployments list --json
    """
    from mlmp_cli.serving.deployments import list_deployments

    found = list_deployments(ctx)
    if as_json:
        output.emit_json([output.to_dict(d) for d in found])
        return
    output.table(
        ["DEPLOYMENT", "NAME", "STATE", "PROVIDER", "RUN", "SIGNALS", "LAST SIGNAL", "ENDPOINT"],
        [(d.id, d.name, state_name(d), d.provider, d.run_id or "-", d.signal_count,
          when(d.last_signal_time, seconds=True), d.links.endpoint_url or "-") for d in found],
        empty="No deployments yet. Deploy a trained model with: mp deploy",
    )  # fmt: skip


@deployments.command()
@click.argument("deployment_id")
@json_option
@pass_context
def status(ctx: Context, deployment_id: str, as_json: bool) -> None:
    """State, links, heartbeat, signal counts, live score and deliveries to linked destinations of DEPLOYMENT_ID.

    \b
    Examples:
      mp deployments status dep_123
      mp deployments status dep_123 --json
    """
    from mlmp_cli.serving.deployments import get_deployment

    found = get_deployment(ctx, deployment_id)
    if as_json:
        output.emit_json(output.to_dict(found))
        return
    links = found.links
    rows = [
        ("Deployment", found.id), ("Name", found.name), ("State", state_name(found)),
        ("Provider", f"{found.provider} {found.external_id}".strip()), ("Model (run)", found.run_id or "-"),
        ("Endpoint", links.endpoint_url or "-"),
        ("Signals go to", "the marketplace" + (f", which delivers them to {len(found.deliveries)} linked URL(s)"
                                               if found.deliveries else "")),
        ("Signals stored", f"{found.signal_count} (last {when(found.last_signal_time, seconds=True)}, "
                           f"batch {found.last_sequence})"),
        ("Last heartbeat", when(found.last_heartbeat_time, seconds=True)), ("Token", found.token_hint or "-"),
        ("Created", when(found.create_time, seconds=True)), ("Message", found.message or "-"),
    ]  # fmt: skip
    from mlmp_cli.commands.catalog import live_score_text

    score = live_score_text(ctx, found)
    if score is not None:  # after the signal counts
        rows.insert([label for label, _ in rows].index("Last heartbeat"), ("Live score", score))
    for label, value in rows:
        output.echo(f"{label + ':':<16} {value}")
    if found.deliveries:
        output.echo("Deliveries:")
        delivery_table(found)


@deployments.command()
@click.argument("deployment_id")
@click.option("--lines", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
def logs(deployment_id: str, lines: int, follow: bool) -> None:
    """The inference server's output (local deployments; RunPod keeps a pod's logs in its console).

    \b
    Examples:
      mp deployments logs dep_123 -n 100
      mp deployments logs dep_123 --follow
    """
    from mlmp_cli.serving.local import show_log

    show_log(deployment_id, lines, follow)


@deployments.command()
@click.argument("deployment_id")
@json_option
@pass_context
def stop(ctx: Context, deployment_id: str, as_json: bool) -> None:
    """Stop serving DEPLOYMENT_ID (the process or pod ends; the record and its signals stay).

    \b
    Example:
      mp deployments stop dep_123
    """
    from mlmp_cli.serving.deploy import stop_serving
    from mlmp_cli.serving.deployments import get_deployment, transition

    found = get_deployment(ctx, deployment_id)
    stop_serving(found)
    stopped = found if state_name(found) == "stopped" else transition(ctx, found.id, "stopped", "stopped by the vendor")
    if as_json:
        output.emit_json(output.to_dict(stopped))
    else:
        output.echo(f"Deployment {stopped.id} stopped.")


@deployments.command()
@click.argument("deployment_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_context
def delete(ctx: Context, deployment_id: str, yes: bool, as_json: bool) -> None:
    """Stop DEPLOYMENT_ID if it runs, revoke its token and remove it. Its stored signals stay.

    \b
    Examples:
      mp deployments delete dep_123
      mp deployments delete dep_123 --yes --json
    """
    from mlmp_cli.serving.deploy import stop_serving
    from mlmp_cli.serving.deployments import get_deployment
    from mlmp_marketplace.v1 import deployments_pb2

    if not yes and not as_json:
        click.confirm(f"Delete deployment {deployment_id} and revoke its token?", abort=True)
    stop_serving(get_deployment(ctx, deployment_id))
    request = deployments_pb2.DeleteDeploymentRequest(deployment_id=deployment_id)
    deleted = ctx.call(ctx.deployments.DeleteDeployment, request)
    if as_json:
        output.emit_json(output.to_dict(deleted))
    else:
        output.echo(f"Deployment {deleted.id} deleted; its token no longer works. Its signals stay in the marketplace.")


@deployments.command("rotate-token")
@click.argument("deployment_id")
@json_option
@pass_context
def rotate_token(ctx: Context, deployment_id: str, as_json: bool) -> None:
    """Issue DEPLOYMENT_ID a new token (printed once) and revoke the old one.

    A local deployment started by `mp deploy` on this machine carries on with the new token by itself.
    Anything else still using the old token is refused from now on (its open streams end at once):
    set MP_DEPLOYMENT_TOKEN to the new one where you run it yourself.

    \b
    Example:
      mp deployments rotate-token dep_123
    """
    from mlmp_cli.serving.local import hand_over_token
    from mlmp_marketplace.v1 import deployments_pb2

    request = deployments_pb2.RotateDeploymentTokenRequest(deployment_id=deployment_id)
    rotated = ctx.call(ctx.deployments.RotateDeploymentToken, request)
    handed_over = hand_over_token(rotated.deployment.id, rotated.token)
    if as_json:
        output.emit_json({"deploymentId": rotated.deployment.id, "token": rotated.token,
                          "localServerContinues": handed_over})  # fmt: skip
        return
    output.note(f"New token for {deployment_id} (shown once; the old one is revoked):")
    output.echo(rotated.token)
    if handed_over:
        output.note("The local server that mp deploy started carries on with the new token.")


@deployments.command("_serve", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def serve(command: tuple[str, ...]) -> None:
    """Inside a pod: pull the current round and the run's model with the deployment's token, then
    run the serve command."""
    from mlmp_cli.serving.runpod import serve_in_pod

    serve_in_pod(command)
