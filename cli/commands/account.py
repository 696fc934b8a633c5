"""`mp login`, `mp logout`, `mp whoami`."""

from __future__ import annotations

import os
import sys

import click

from mlmp_cli import config, output
from mlmp_cli.context import Context, pass_context
from mlmp_cli.display import enum_word, when
from mlmp_cli.output import json_option


def _principal_summary(principal) -> str:
    from mlmp_marketplace.v1 import options_pb2

    kind = enum_word(options_pb2.PrincipalKind, principal.kind)
    if principal.vendor.slug:
        return f"vendor {principal.vendor.slug} ({principal.vendor.display_name})"
    if kind == "admin":
        return "an operator (admin)"
    return f"a {kind} token"


def _whoami(ctx: Context):
    from mlmp_marketplace.v1 import auth_pb2

    return ctx.call(ctx.auth.WhoAmI, auth_pb2.WhoAmIRequest())


@click.command()
@click.option(
    "--api-url",
    envvar="MP_API_URL",
    default=config.DEFAULT_API_URL,
    show_default=True,
    help="The marketplace: http(s)://HOST:PORT (its REST gateway) or grpc(s)://HOST:PORT.",
)
@click.option(
    "--token",
    help="Your API token. Omit it to be prompted (hidden input), or pipe it in on stdin.",
)
@click.option(
    "--runpod-api-key",
    help="Also keep a RunPod API key (for mp train start --provider runpod). '-' prompts for it (hidden).",
)
@json_option
def login(api_url: str, token: str | None, runpod_api_key: str | None, as_json: bool) -> None:
    """Check a token against the marketplace and store it for later commands.

    The credentials file is written with mode 0600 under MP_CONFIG_DIR (default: your user config
    dir). MP_API_URL and MP_TOKEN, when set, override what is stored.

    \b
    Examples:
      mp login --api-url http://localhost:3010              # prompts for the token
      echo "$TOKEN" | mp login --api-url grpc://infra:50051
    """
    from mlmp_cli.client import resolve

    if not token:
        token = os.environ.get("MP_TOKEN") or (
            sys.stdin.readline().strip()
            if not sys.stdin.isatty()
            else click.prompt("API token", hide_input=True, err=True)
        )
    token = token.strip()
    if not token:
        raise click.UsageError("no token given")
    endpoint = resolve(api_url)
    with Context(config.Credentials(endpoint.api_url, token, endpoint.grpc_target, endpoint.tls)) as candidate:
        principal = _whoami(candidate)
    if runpod_api_key == "-":
        runpod_api_key = click.prompt("RunPod API key", hide_input=True, err=True)
    previous = config.load_stored()
    credentials = config.Credentials(
        api_url=api_url.rstrip("/"),
        token=token,
        grpc_target=endpoint.grpc_target,
        tls=endpoint.tls,
        runpod_api_key=runpod_api_key or (previous.runpod_api_key if previous else ""),
    )
    path = config.save(credentials)
    if as_json:
        output.emit_json(
            {
                "apiUrl": credentials.api_url,
                "grpcTarget": endpoint.grpc_target,
                "principal": output.to_dict(principal),
                "credentialsFile": str(path),
            }
        )
        return
    output.echo(f"Logged in to {credentials.api_url} (gRPC {endpoint.grpc_target}) as {_principal_summary(principal)}.")
    output.echo(f"Scopes: {' '.join(principal.scopes)}")
    output.note(f"Credentials saved to {path} (mode 0600).")


@click.command()
def logout() -> None:
    """Forget the stored credentials.

    \b
    Example:
      mp logout
    """
    if config.forget():
        output.echo(f"Logged out; removed {config.credentials_path()}.")
    else:
        output.echo("Not logged in; nothing to remove.")


@click.command()
@json_option
@pass_context
def whoami(ctx: Context, as_json: bool) -> None:
    """Show who the current token belongs to and what it may do.

    \b
    Examples:
      mp whoami
      mp whoami --json
    """
    principal = _whoami(ctx)
    endpoint = ctx.endpoint
    if as_json:
        output.emit_json({"apiUrl": endpoint.api_url, "grpcTarget": endpoint.grpc_target, **output.to_dict(principal)})
        return
    expires = f"{when(principal.expire_time)} UTC" if principal.HasField("expire_time") else "never"
    output.echo(f"You are {_principal_summary(principal)}.")
    if principal.vendor.id:
        output.echo(f"Vendor id:  {principal.vendor.id}")
    output.echo(f"Token id:   {principal.token_id}")
    output.echo(f"Scopes:     {' '.join(principal.scopes)}")
    output.echo(f"Expires:    {expires}")
    output.echo(f"Server:     {endpoint.api_url} (gRPC {endpoint.grpc_target})")
