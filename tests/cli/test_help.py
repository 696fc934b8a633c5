"""Every command a vendor or operator can run shows how, in `--help`: an Examples section of `mp …` lines,
and a --json for scripts wherever it prints a result."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from mlmp_cli.main import cli

# Leaf commands that print no result a script would parse, each with the reason.
WITHOUT_JSON = {
    "mp logout": "says only whether a credentials file was removed; the exit code is the result",
    "mp deployments logs": "prints the inference server's own log lines, as they are",
}


def leaf_commands(group: click.Group = cli, path: str = "mp") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from leaf_commands(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def help_of(path: str, command: click.Command) -> str:
    with click.Context(command, info_name=path) as context:
        return command.get_help(context)


LEAVES = dict(leaf_commands())


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_shows_an_example(path: str):
    text = help_of(path, LEAVES[path])
    assert "Examples:" in text or "Example:" in text, f"{path} --help has no Examples section"
    section = text.split("Example", 1)[1].split("Options:", 1)[0]
    examples = [line.strip() for line in section.splitlines()[1:] if line.strip().startswith("mp ")]
    assert examples, f"{path} --help shows no example line starting with 'mp '"
    assert any(line.startswith(path) for line in examples), f"{path}: no example runs {path}"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_that_prints_a_result_offers_json(path: str):
    options = {name for param in LEAVES[path].params for name in getattr(param, "opts", [])}
    if path in WITHOUT_JSON:
        assert "--json" not in options, f"{path} has --json now: take it off WITHOUT_JSON"
        return
    assert "--json" in options, f"{path} prints a result but has no --json"
