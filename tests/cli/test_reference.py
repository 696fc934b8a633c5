"""The console's CLI reference (server/console/static/docs/cli.json) is the click commands as they are:
it is regenerated here and compared with the committed file, so a changed command without `make docs` fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from mlmp_cli.reference import reference, render

COMMITTED = Path(__file__).parents[2] / "server" / "console" / "static" / "docs" / "cli.json"


def rendered() -> str:
    """The reference as `make docs` writes it, from a fresh process: click keeps each command's help option once
    made, so in this process it would depend on which command another test invoked alone first."""
    return subprocess.run([sys.executable, "-m", "mlmp_cli.reference"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_the_committed_cli_reference_matches_the_commands():
    assert COMMITTED.read_text(encoding="utf-8") == rendered(), "the CLI changed: run `make docs` and commit"


def test_a_changed_command_changes_the_reference():
    """The comparison above can fail: one more option on one command is a different document."""

    @click.group()
    def root() -> None:
        """Root."""

    @root.command()
    @click.option("--round", default="current", show_default=True, help="Which round.")
    def pull(round: str) -> None:
        """Pull files.

        \b
        Examples:
          x pull --round 3
        """

    before = render(root)
    pull.params.append(click.Option(["--fast"], is_flag=True, help="Faster."))
    assert render(root) != before
    commands = {command["path"]: command for command in reference(root, "x")["commands"]}
    assert commands["x pull"]["help"] == "Pull files.\n\nExamples:\n  x pull --round 3"
    assert {"names": "--fast", "help": "Faster."} in commands["x pull"]["options"]


def test_the_reference_has_every_visible_command_with_its_options():
    commands = {command["path"]: command for command in json.loads(rendered())["commands"]}
    pull = commands["mp data pull"]
    assert pull["usage"] == "mp data pull [OPTIONS]"
    assert {"names": "--round TEXT", "help": "'current' or a round number.  [default: current]"} in pull["options"]
    assert {"names": "-h, --help", "help": "Show this message and exit."} in pull["options"]
    assert "mp data pull --round current" in pull["help"]
    assert {"mp", "mp train start", "mp deploy", "mp signals tail", "mp admin tokens create"} <= set(commands)
    assert "Exit codes" in commands["mp"]["epilog"]
