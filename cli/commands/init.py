"""`mp init`: start a vendor project from a template."""

from __future__ import annotations

from pathlib import Path

import click

from cli import output


@click.command()
@click.option("--list", "list_only", is_flag=True, help="List the templates, one line each.")
@click.option("--template", "template_name", default="runpod-signal-http", show_default=True, help="Which template.")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def init(list_only: bool, template_name: str, force: bool, directory: Path | None) -> None:
    """Create a working vendor project in DIRECTORY: mp.yaml, a train script, the model, an inference
    server, a Dockerfile, pinned requirements, its own tests and a README. No token is ever written.

    \b
    Example:
      mp init --template runpod-signal-http my-model && cd my-model && pytest
    """
    from cli.project import create_project, templates

    available = templates()
    if list_only:
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
    written = create_project(chosen, directory, force=force)
    output.echo(f"Created {directory} from {chosen.name} ({len(written)} files).")
    output.note(f"Next: cd {directory} && mp data pull --round current && mp train start")
