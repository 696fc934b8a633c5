"""A vendor's project: `mp init` templates, and the `mp.yaml` that `mp train` and `mp deploy` read."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click
import yaml

PROJECT_FILE = "mp.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    path: Path


def templates() -> list[Template]:
    root = Path(str(resources.files("mlmp_cli") / "templates"))
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / "template.json").exists()):
        meta = json.loads((folder / "template.json").read_text())
        found.append(Template(meta["name"], meta["summary"], folder))
    return found


def project_name(dest: Path) -> str:
    """The project's name: its folder's, lowercased with '_' as '-' (`mp init` says so when that changes it)."""
    name = dest.resolve().name.lower().replace("_", "-")
    if not _NAME.match(name):
        raise click.BadParameter(
            f"{dest.resolve().name!r} cannot name a project: the folder's name is the project's, and it needs 2 to 63 "
            "characters, a lowercase letter first, then lowercase letters, digits or '-' (e.g. my-model)",
            param_hint="DIRECTORY",
        )
    return name


def create_project(template: Template, dest: Path, *, force: bool) -> list[Path]:
    """Copies the template into `dest` (refusing a non-empty folder without force); returns the files."""
    name = project_name(dest)
    if dest.exists() and any(dest.iterdir()) and not force:
        raise click.ClickException(f"{dest} is not empty; pick a new folder, or pass --force to write into it")
    written = []
    for source in sorted(template.path.rglob("*")):
        relative = source.relative_to(template.path)
        if source.is_dir() or relative.name == "template.json" or "__pycache__" in relative.parts:
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix in (".yaml", ".md"):
            target.write_text(source.read_text().replace("{{name}}", name))
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return written


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    task: str
    train_command: str
    serve_command: str
    serve_port: int
    image: str
    gpu: str
    python: str = ""  # the interpreter or virtualenv of the project's commands (cli/project_env.py)


def find_project_file(start: Path | None = None) -> Path | None:
    """The mp.yaml in this folder or the nearest parent; None outside a project."""
    here = (start or Path.cwd()).resolve()
    return next((folder / PROJECT_FILE for folder in (here, *here.parents) if (folder / PROJECT_FILE).exists()), None)


def round_folder(number: int, start: Path | None = None) -> Path:
    """Where round `number`'s files go unless told: inside a project, its .mp/rounds/round-N (where
    `mp train start` and `mp deploy` read them); elsewhere mp-data/round-N."""
    found = find_project_file(start)
    return rounds_folder(found.parent, number) if found else Path("mp-data") / f"round-{number}"


def rounds_folder(root: Path, number: int) -> Path:
    """A project's copy of round `number`, under the project folder `root`."""
    return root / ".mp" / "rounds" / f"round-{number}"


def load_project(start: Path | None = None) -> Project:
    """The mp.yaml in this folder or the nearest parent."""
    path = find_project_file(start)
    if path is None:
        raise click.ClickException(
            f"no {PROJECT_FILE} here or above; create a project with: mp init --template NAME DIR"
        )
    folder = path.parent
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return Project(
            root=folder, name=str(data["name"]), task=str(data.get("task", "signal")),
            train_command=str(data["train"]["command"]), serve_command=str(data.get("serve", {}).get("command", "")),
            serve_port=int(data.get("serve", {}).get("port", 8080)),
            image=str(data.get("image", "")), gpu=str(data.get("resources", {}).get("gpu", "")),
            python=str(data.get("python") or ""),
        )  # fmt: skip
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise click.ClickException(f"{path} is not a valid project file ({type(error).__name__}: {error})") from None


def parse_hyperparameter(text: str) -> tuple[str, object]:
    """`lr=0.001` → a number, `layers=[64,32]` → a list, `flag=true` → a boolean, anything else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint="--hp")
    try:
        value = json.loads(raw, parse_constant=_not_finite(text), parse_float=_finite(text))
    except ValueError:
        value = raw
    return key.strip(), value


def parse_hyperparameters(texts: tuple[str, ...] | list[str]) -> dict[str, object]:
    """Every `--hp NAME=VALUE`, each name once: a repeated name is refused rather than one value dropped."""
    parsed: dict[str, object] = {}
    for text in texts:
        key, value = parse_hyperparameter(text)
        if key in parsed:
            raise click.BadParameter(
                f"{key} is given twice ({key}={json.dumps(parsed[key])} and {text}); give each hyperparameter once",
                param_hint="--hp",
            )
        parsed[key] = value
    return parsed


def _not_finite(text: str):
    def refuse(_constant: str) -> float:
        # Raised through json.loads: a BadParameter is no ValueError, so it is not taken for a string.
        raise click.BadParameter(
            f"{text!r}: a hyperparameter must be a finite number (NaN and Infinity cannot be stored)", param_hint="--hp"
        )

    return refuse


def _finite(text: str):
    def parse(number: str) -> float:
        value = float(number)
        if math.isinf(value):
            raise click.BadParameter(f"{text!r}: {number} is too large for a number", param_hint="--hp")
        return value

    return parse
