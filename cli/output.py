"""All the CLI's output: human text and tables, or JSON for scripts (--json), nothing else on stdout.

Progress, hints and spinners go to stderr.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import click
from google.protobuf import json_format
from google.protobuf.message import Message

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def echo(text: str = "") -> None:
    click.echo(text)


def note(text: str) -> None:
    """Progress and hints go to stderr so stdout stays parseable."""
    click.echo(text, err=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "(none)") -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        click.echo(click.style(line, bold=True) if index == 0 else line)


def waiting(text: str, enabled: bool = True) -> Any:
    """A spinner with `text` on stderr while something is awaited (nothing when stderr is no terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        return contextlib.nullcontext()
    return console.status(text)
