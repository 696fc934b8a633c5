"""`mp`: the marketplace's command line for vendors and operators."""

from __future__ import annotations

import sys

import click

from mlmp_cli.commands.account import login, logout, whoami
from mlmp_cli.commands.admin import admin
from mlmp_cli.commands.catalog import catalog
from mlmp_cli.commands.data import data
from mlmp_cli.commands.deploy import deploy, link_infra
from mlmp_cli.commands.deployments import deployments
from mlmp_cli.commands.init import init
from mlmp_cli.commands.signals import signals
from mlmp_cli.commands.tokens import tokens
from mlmp_cli.commands.train import train
from mlmp_cli.context import Context
from mlmp_cli.exit_codes import ExitCode, help_table


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=help_table())
@click.version_option(package_name="ml-marketplace", prog_name="mp")
@click.pass_context
def cli(click_context: click.Context) -> None:
    """ML Marketplace: pull dataset rounds, train trading-signal models, deploy them, stream signals.

    \b
    Start here:
      mp login --api-url http://localhost:3010     # store your token (prompted)
      mp whoami                                    # who you are, what you may do
      mp data pull --round current                 # the current round's files, verified
      mp init --template runpod-signal-http my-model && cd my-model
      mp train start                               # train here, recorded as a run
      mp deploy                                    # serve it; its signals stream in
      mp signals tail                              # watch signals arrive, with attribution

    Every command takes --help (with examples); commands that print a result take --json for
    scripts. Shell completion: eval "$(_MP_COMPLETE=bash_source mp)" (zsh_source, fish_source).
    """
    context = click_context.obj = Context()
    click_context.call_on_close(context.close)


cli.add_command(login)
cli.add_command(logout)
cli.add_command(whoami)
cli.add_command(admin)
cli.add_command(data)
cli.add_command(train)
cli.add_command(init)
cli.add_command(deploy)
cli.add_command(link_infra)
cli.add_command(deployments)
cli.add_command(signals)
cli.add_command(catalog)
cli.add_command(tokens)


def main() -> None:
    try:
        outcome = cli.main(standalone_mode=False)  # a command's return value, or the code of an Exit (--help)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort as abort:
        # click turns Ctrl-C into Abort too; a script should see it as an interruption (128 + SIGINT)
        interrupted = isinstance(abort.__cause__, KeyboardInterrupt)
        click.echo("Interrupted." if interrupted else "Aborted!", err=True)
        sys.exit(ExitCode.INTERRUPTED if interrupted else ExitCode.FAILED)
    sys.exit(outcome if isinstance(outcome, int) else ExitCode.OK)
