"""`mp-server`: run the platform, migrate its database, issue an operator token."""

from __future__ import annotations

import asyncio
import os
import sys

import click

SERVER_EXTRA_HINT = "mp-server needs the server extra: pip install 'ml-marketplace[server]'"


def _settings():
    from mlmp_server.settings import Settings, SettingsError

    try:
        return Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def _run_async(coroutine):
    from mlmp_server.db.engine import SchemaNotUsable

    try:
        return asyncio.run(coroutine)
    except SchemaNotUsable as error:
        raise click.ClickException(error.message) from None
    except KeyboardInterrupt:
        return None


def _print_token_box(token: str, heading: str, api_url: str = "http://HOST:3010") -> None:
    click.echo(
        f"\n{heading}\n\n    {token}\n\n"
        "It is shown only now; the server keeps only a digest. Log in with:\n"
        f"    mp login --api-url {api_url} --token {token}\n",
    )


@click.group(invoke_without_command=True)
@click.version_option(package_name="ml-marketplace", prog_name="mp-server")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """ML Marketplace server: gRPC API, REST gateway and storage in one process.

    With no command, runs the server (same as `mp-server run`). Configuration comes from MP_*
    environment variables only; see the README for the table.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@cli.command()
def run() -> None:
    """Start serving. First start with no configuration creates the data dir, a SQLite database,
    a secret key and one admin token, printed once."""
    from mlmp_server.app import Listening, serve
    from mlmp_server.logs import configure_logging
    from mlmp_server.process import settle_heap

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)

    def ready(listening: Listening) -> None:
        settle_heap()  # before saying so: the first calls do not wait for its one full collection
        http_host = settings.http_addr.rpartition(":")[0]
        local = "localhost" if http_host in ("0.0.0.0", "127.0.0.1") else http_host
        api_url = settings.public_url or f"http://{local}:{listening.http_port}"
        if listening.admin_token:
            _print_token_box(listening.admin_token, "First start: this is the admin token.", api_url)
        click.echo(f"mp-server {_version()}: data in {settings.data_dir}")
        click.echo(f"gRPC listening on {settings.grpc_addr.rpartition(':')[0]}:{listening.grpc_port}")
        click.echo(f"HTTP listening on http://{http_host}:{listening.http_port}")
        sys.stdout.flush()

    _run_async(serve(settings, on_ready=ready, exit_if_stuck=True))
    click.echo("mp-server stopped")


@cli.command()
@click.option("--grpc-target", required=True, help="HOST:PORT of the gRPC server(s) to front, e.g. a load balancer.")
@click.option("--tls", is_flag=True, help="Reach the gRPC target over TLS.")
def gateway(grpc_target: str, tls: bool) -> None:
    """Run only the HTTP side (REST gateway, OpenAPI, discovery) in front of other replicas.

    Needs no database. Listens on MP_HTTP_ADDR; discovery hands clients MP_GRPC_PUBLIC_TARGET,
    or --grpc-target when that is unset.
    """
    from mlmp_server.app import serve_gateway
    from mlmp_server.logs import configure_logging
    from mlmp_server.process import settle_heap

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)

    def ready(port: int) -> None:
        settle_heap()
        click.echo(f"mp-server gateway {_version()}: in front of {grpc_target}")
        click.echo(f"HTTP listening on http://{settings.http_addr.rpartition(':')[0]}:{port}")
        sys.stdout.flush()

    _run_async(serve_gateway(settings, grpc_target, tls=tls, on_ready=ready))
    click.echo("mp-server gateway stopped")


@cli.command()
def migrate() -> None:
    """Upgrade the database (MP_DATABASE_URL) to this version's schema. Back it up first."""
    from mlmp_server.db.engine import create_engine
    from mlmp_server.db.engine import migrate as upgrade

    settings = _settings()

    async def go() -> tuple[str | None, str]:
        engine = create_engine(settings.database_url)
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    before, after = _run_async(go())
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database migrated from {before or 'empty'} to revision {after}")


@cli.command("create-admin-token")
@click.option("--name", default="operator token", show_default=True, help="A label shown in token lists.")
def create_admin_token(name: str) -> None:
    """Print a fresh admin token (for operators who lost the first one). Needs only the database."""
    from mlmp_server.app import issue_admin_token
    from mlmp_server.resources import open_resources

    settings = _settings()

    async def go() -> str | None:
        resources = await open_resources(settings)
        try:
            return await issue_admin_token(resources, display_name=name)
        finally:
            await resources.close()

    token = _run_async(go())
    if token:
        _print_token_box(token, "New admin token:")


def _version() -> str:
    from mlmp_server.version import SERVER_VERSION

    return SERVER_VERSION


def main() -> None:
    try:
        import alembic  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        sys.exit(SERVER_EXTRA_HINT)
    cli()
