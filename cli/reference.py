"""The CLI reference as data: every `mp` command with its help, usage, arguments and options, read
from the click commands themselves, as `--help` shows them.

`make docs` writes it to the web console (server/console/static/docs/cli.json), which serves it as
a static file: the server never imports cli/. `make check-docs` and tests/cli/test_reference.py fail
when a command changes and the file was not written again.

    python -m mlmp_cli.reference > server/console/static/docs/cli.json
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

# Terminal-width independent: the help records are wrapped by the page, not here.
_WIDTH = 10_000


def _text(help_text: str | None) -> str:
    """A docstring as --help shows it, less click's `\\b` (keep this paragraph's line breaks) markers."""
    cleaned = inspect.cleandoc(help_text or "")
    cleaned = cleaned.split("\f", 1)[0]  # click: what follows \f is for the source only
    return "\n".join(line for line in cleaned.split("\n") if line.strip() != "\b").strip()


def _commands(command: click.Command, context: click.Context) -> Iterator[dict[str, Any]]:
    yield _describe(command, context)
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is None or sub.hidden:
                continue
            yield from _commands(sub, _context(sub, name, context))


def _context(command: click.Command, name: str, parent: click.Context | None = None) -> click.Context:
    settings = {"terminal_width": _WIDTH, **command.context_settings}  # -h with --help, as the command has
    return click.Context(command, info_name=name, parent=parent, **settings)


def _describe(command: click.Command, context: click.Context) -> dict[str, Any]:
    options, arguments = [], []
    for param in command.get_params(context):
        if isinstance(param, click.Argument):
            arguments.append(
                {"name": param.make_metavar(context), "required": param.required, "repeatable": param.multiple}
            )
            continue
        record = param.get_help_record(context)
        if record is None:  # hidden
            continue
        names, help_text = record
        options.append({"names": names, "help": help_text})
    is_group = isinstance(command, click.Group)
    return {
        "path": context.command_path,
        "summary": command.get_short_help_str(limit=_WIDTH),
        "help": _text(command.help),
        "epilog": _text(command.epilog),
        "usage": f"{context.command_path} {' '.join(command.collect_usage_pieces(context))}",
        "group": is_group,
        "arguments": arguments,
        "options": options,
    }


def reference(root: click.Command, name: str = "mp") -> dict[str, Any]:
    """{"commands": [...]}: the root first, then every visible command depth first, in --help's order."""
    context = _context(root, name)
    return {"commands": list(_commands(root, context))}


def render(root: click.Command) -> str:
    return json.dumps(reference(root), indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    from mlmp_cli.main import cli

    sys.stdout.write(render(cli))


if __name__ == "__main__":
    main()
