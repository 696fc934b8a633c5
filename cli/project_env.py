"""Where a project's commands (mp.yaml's train and serve) run: in the project's Python, never mp's own.

mp may be installed on its own (pipx), in an environment that has none of the project's requirements. So
`python` and `python3` at the start of a command mean the project's interpreter, the first of: mp.yaml's
`python` (an interpreter, a command on PATH, or a virtualenv folder), the project's virtualenv (`.venv` or `venv`
in the project folder), `python3` on PATH; the interpreter mp runs on only when there is none of these. A
virtualenv's bin folder also goes first on PATH, as its activation would do.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

VENV_FOLDERS = (".venv", "venv")
PYTHON_WORDS = ("python", "python3")
HOW_TO_CHOOSE = (
    "set `python:` in mp.yaml to the interpreter (or virtualenv folder) that has the project's requirements, "
    "or create the project's virtualenv: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
)


class CommandCannotStart(click.ClickException):
    """A command of mp.yaml that cannot be started here, with what to change."""


@dataclass(frozen=True)
class Interpreter:
    path: Path
    chosen_as: str  # for messages: how it was found
    venv: Path | None = None


@dataclass(frozen=True)
class ProjectCommand:
    argv: list[str]
    env: dict[str, str]
    interpreter: Interpreter

    def describe(self) -> str:
        return f"python is {self.interpreter.path} ({self.interpreter.chosen_as})"


def _venv_python(folder: Path) -> Path | None:
    for relative in ("bin/python", "Scripts/python.exe"):
        if (folder / relative).is_file():
            return folder / relative
    return None


def _venv_of(python: Path) -> Path | None:
    folder = python.parent.parent
    return folder if (folder / "pyvenv.cfg").is_file() else None


def _named_interpreter(root: Path, setting: str, search_path: str) -> Interpreter:
    chosen_as = f"mp.yaml's python: {setting}"
    candidate = root / Path(setting).expanduser()  # an absolute setting stays as it is
    path_like = "/" in setting or os.sep in setting or setting.startswith(".") or candidate.exists()
    if not path_like:  # a command, such as python3.12
        found = shutil.which(setting, path=search_path)
        if found is None:
            raise CommandCannotStart(f"mp.yaml names python: {setting}, which is not on PATH ({search_path}); "
                                     f"{HOW_TO_CHOOSE}")  # fmt: skip
        return Interpreter(Path(found), chosen_as, _venv_of(Path(found)))
    if candidate.is_dir():
        python = _venv_python(candidate)
        if python is None:
            raise CommandCannotStart(f"mp.yaml names python: {setting}, a folder without bin/python; {HOW_TO_CHOOSE}")
        return Interpreter(python, chosen_as, candidate)
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        problem = "is no program" if candidate.exists() else "does not exist"
        raise CommandCannotStart(f"mp.yaml names python: {setting}, but {candidate} {problem}; {HOW_TO_CHOOSE}")
    return Interpreter(candidate, chosen_as, _venv_of(candidate))


def find_interpreter(root: Path, setting: str, search_path: str) -> Interpreter:
    """The interpreter `python` means in the project's commands (the order is the module's docstring)."""
    if setting:
        return _named_interpreter(root, setting, search_path)
    for name in VENV_FOLDERS:
        python = _venv_python(root / name)
        if python is not None:
            return Interpreter(python, f"the project's virtualenv {name}", root / name)
    found = shutil.which("python3", path=search_path)
    if found is not None:
        return Interpreter(Path(found), "python3 on PATH")
    own_venv = Path(sys.prefix) if sys.prefix != sys.base_prefix else None
    return Interpreter(Path(sys.executable), "mp's own: no virtualenv in the project, no python3 on PATH", own_venv)


def project_command(root: Path, python_setting: str, command: str, setting_name: str,
                    environ: Mapping[str, str]) -> ProjectCommand:  # fmt: skip
    """How to start mp.yaml's `setting_name` (`command`) in the project's environment, from `environ`."""
    search_path = environ.get("PATH", os.defpath)
    interpreter = find_interpreter(root, python_setting, search_path)
    env = dict(environ)
    if interpreter.venv is not None:
        env["PATH"] = f"{interpreter.path.parent}{os.pathsep}{search_path}"
        env["VIRTUAL_ENV"] = str(interpreter.venv)
        env.pop("PYTHONHOME", None)
    argv = shlex.split(command)
    if not argv:
        raise CommandCannotStart(f"{setting_name} in mp.yaml is empty: name the command to run")
    if argv[0] in PYTHON_WORDS:
        argv[0] = str(interpreter.path)
    elif not _startable(argv[0], root, env["PATH"]):
        hint = f"`python` and `python3` in a command mean {interpreter.path} ({interpreter.chosen_as}); "
        raise CommandCannotStart(
            f"cannot start {setting_name} `{command}`: `{argv[0]}` is not on PATH ({env['PATH']}). "
            + (hint + HOW_TO_CHOOSE if argv[0].startswith("python") else f"change {setting_name} in mp.yaml")
        )
    return ProjectCommand(argv, env, interpreter)


def _startable(program: str, root: Path, search_path: str) -> bool:
    if "/" in program or os.sep in program:
        path = root / program
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program, path=search_path) is not None
