"""`mp deployments`: a vendor's deployments: list, status, logs, stop, delete, rotate-token."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cli import output
from cli.commands.deploy import _transition, delivery_table, deployment_stub, state_name, when
from cli.output import json_option


def _get(session, deployment_id: str):
    from marketplace.v1 import deployments_pb2

    request = deployments_pb2.GetDeploymentRequest(deployment_id=deployment_id)
    return session.call(deployment_stub(session).GetDeployment, request)


@click.group()
def deployments() -> None:
    """Your deployments: where they serve, whether they are healthy, what they sent."""


@deployments.command("list")
@json_option
def list_deployments(as_json: bool) -> None:
    """Your deployments, newest first."""
    from cli.client import open_session
    from marketplace.v1 import deployments_pb2

    with open_session() as session:
        request = deployments_pb2.ListDeploymentsRequest(page_size=500)
        found = session.call(deployment_stub(session).ListDeployments, request).deployments
    if as_json:
        output.emit_json([output.to_dict(d) for d in found])
        return
    output.table(
        ["DEPLOYMENT", "NAME", "STATE", "PROVIDER", "RUN", "SIGNALS", "LAST SIGNAL", "ENDPOINT"],
        [(d.id, d.name, state_name(d), d.provider, d.run_id or "-", d.signal_count, when(d.last_signal_time),
          d.links.endpoint_url or "-") for d in found],
        empty="No deployments yet. Deploy a trained model with: mp deploy",
    )  # fmt: skip


@deployments.command()
@click.argument("deployment_id")
@json_option
def status(deployment_id: str, as_json: bool) -> None:
    """State, links, heartbeat, signal counts and deliveries to linked destinations of DEPLOYMENT_ID."""
    from cli.client import open_session

    with open_session() as session:
        found = _get(session, deployment_id)
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
        ("Signals stored", f"{found.signal_count} (last {when(found.last_signal_time)}, batch {found.last_sequence})"),
        ("Last heartbeat", when(found.last_heartbeat_time)), ("Token", found.token_hint or "-"),
        ("Created", when(found.create_time)), ("Message", found.message or "-"),
    ]  # fmt: skip
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
    """The inference server's output (local deployments; RunPod keeps a pod's logs in its console)."""
    import time

    from cli.serving import LocalRecord, log_tail, state_dir

    log = state_dir() / f"{deployment_id}.log"
    if not log.exists():
        raise click.ClickException(
            f"no log of {deployment_id} on this machine: logs are kept for local deployments started here "
            "(a RunPod deployment's logs are in RunPod's console)"
        )
    output.echo(log_tail(log, lines))
    if not follow:
        return
    with open(log, errors="replace") as source:
        source.seek(0, 2)
        try:
            while LocalRecord.load(deployment_id) is not None:
                line = source.readline()
                if line:
                    output.echo(line.rstrip("\n"))
                else:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            pass


def _stop_serving(session, found) -> None:
    from cli.serving import LocalRecord, stop_local

    if found.provider == "local":
        record = LocalRecord.load(found.id)
        if record is not None:
            stop_local(record)
    elif found.provider == "runpod" and found.external_id:
        from cli.runpod import RunPodClient, RunPodError, api_key

        try:
            RunPodClient(api_key()).terminate_pod(found.external_id)
        except RunPodError as error:
            raise click.ClickException(f"could not terminate RunPod pod {found.external_id}: {error}") from None


@deployments.command()
@click.argument("deployment_id")
@json_option
def stop(deployment_id: str, as_json: bool) -> None:
    """Stop serving DEPLOYMENT_ID (the process or pod ends; the record and its signals stay)."""
    from cli.client import open_session

    with open_session() as session:
        found = _get(session, deployment_id)
        _stop_serving(session, found)
        stopped = (
            found
            if state_name(found) == "stopped"
            else _transition(session, found.id, "stopped", "stopped by the vendor")
        )
    if as_json:
        output.emit_json(output.to_dict(stopped))
    else:
        output.echo(f"Deployment {stopped.id} stopped.")


@deployments.command()
@click.argument("deployment_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(deployment_id: str, yes: bool, as_json: bool) -> None:
    """Stop DEPLOYMENT_ID if it runs, revoke its token and remove it. Its stored signals stay."""
    from cli.client import open_session
    from marketplace.v1 import deployments_pb2

    if not yes and not as_json:
        click.confirm(f"Delete deployment {deployment_id} and revoke its token?", abort=True)
    with open_session() as session:
        found = _get(session, deployment_id)
        _stop_serving(session, found)
        request = deployments_pb2.DeleteDeploymentRequest(deployment_id=deployment_id)
        deleted = session.call(deployment_stub(session).DeleteDeployment, request)
    if as_json:
        output.emit_json(output.to_dict(deleted))
    else:
        output.echo(f"Deployment {deleted.id} deleted; its token no longer works. Its signals stay in the marketplace.")


@deployments.command("rotate-token")
@click.argument("deployment_id")
@json_option
def rotate_token(deployment_id: str, as_json: bool) -> None:
    """Issue DEPLOYMENT_ID a new token (printed once) and revoke the old one.

    A local deployment started by `mp deploy` on this machine carries on with the new token by itself.
    Anything else still using the old token is refused from now on (its open streams end at once):
    set MP_DEPLOYMENT_TOKEN to the new one where you run it yourself.

    \b
    Example:
      mp deployments rotate-token dep_123
    """
    from cli.client import open_session
    from cli.serving import hand_over_token
    from marketplace.v1 import deployments_pb2

    with open_session() as session:
        request = deployments_pb2.RotateDeploymentTokenRequest(deployment_id=deployment_id)
        rotated = session.call(deployment_stub(session).RotateDeploymentToken, request)
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
    import os

    from cli.client import open_session
    from cli.config import Credentials
    from cli.pull import pull_model, pull_round
    from cli.rounds_view import fetch_round

    token = os.environ["MP_DEPLOYMENT_TOKEN"]
    credentials = Credentials(os.environ["MP_API_URL"], token, os.environ.get("MP_GRPC_TARGET", ""),
                              os.environ.get("MP_GRPC_SECURE") == "1")  # fmt: skip
    with open_session(credentials) as session:
        round_ = fetch_round(session, 0)
        folder = Path.cwd() / ".mp" / "rounds" / f"round-{round_.number}"
        pull_round(session, round_, folder, show_progress=False)
        env = {**os.environ, "MP_ROUND_DIR": str(folder), "MP_ROUND": str(round_.number)}
        run_id = os.environ.get("MP_MODEL_RUN", "")
        if run_id:  # the model of the deployed run, unless the image brings its own
            env["MP_MODEL_PATH"] = str(pull_model(session, run_id, Path.cwd() / ".mp" / "runs" / run_id / "artifacts"))
    os.execvpe(command[0], list(command), env)
    sys.exit(127)  # not reached: exec replaces this process
