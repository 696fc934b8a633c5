"""`mp init`: start a vendor project from a template."""

from __future__ import annotations

from pathlib import Path

import click

from mlmp_cli import output
from mlmp_cli.output import json_option


@click.command()
@click.option("--list", "list_only", is_flag=True, help="List the templates, one line each.")
@click.option("--template", "template_name", default="runpod-signal-http", show_default=True, help="Which template.")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
def init(list_only: bool, template_name: str, force: bool, directory: Path | None, as_json: bool) -> None:
    """Create a working vendor project in DIRECTORY: mp.yaml, a train script, the model, an inference
    server, a Dockerfile, pinned requirements, its own tests and a README. No token is ever written.

    The folder's name is the project's name (2 to 63 characters: a lowercase letter, then lowercase
    letters, digits or '-'); capitals are lowercased and '_' becomes '-', and mp init says so.

    \b
    Examples:
      mp init --template runpod-signal-http my-model && cd my-model && pytest
      mp init --list
    """
    from mlmp_cli.project import create_project, project_name, templates

    available = templates()
    if list_only:
        if as_json:
            output.emit_json([{"name": t.name, "summary": t.summary} for t in available])
            return
        for template in available:
            output.echo(f"{template.name:22} {template.summary}")
        return
    if directory is None:
        raise click.UsageError("say where: mp init --template NAME DIRECTORY (or mp init --list)")
    chosen = next((t for t in available if t.name == template_name), None)
    if chosen is None:
        raise click.BadParameter(
            f"no template {template_name!r}; there are: {', '.join(t.name for t in available)}", param_hint="--template"
        )
    name = project_name(directory)
    written = create_project(chosen, directory, force=force)
    if as_json:
        output.emit_json({"directory": str(directory), "name": name, "template": chosen.name,
                          "files": [str(path) for path in written]})  # fmt: skip
        return
    if name != directory.resolve().name:
        output.note(f"The project is named {name} (its folder's name {directory.resolve().name!r}, lowercased "
                    "with '_' as '-').")  # fmt: skip
    output.echo(f"Created {directory} from {chosen.name} ({len(written)} files).")
    output.note(f"Next: cd {directory} && mp data pull && mp train start (the round goes into {directory}/.mp/rounds)")
