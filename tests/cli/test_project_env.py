"""A project's commands run with the project's Python: mp.yaml's choice, its virtualenv, python3 on PATH, and
mp's own interpreter only when there is none of these."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlmp_cli.project_env import CommandCannotStart, project_command


def program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def venv(folder: Path) -> Path:
    (folder).mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return program(folder / "bin" / "python")


@pytest.fixture
def user_path(tmp_path: Path) -> str:
    """A PATH with python3 (and no python), as on many Linux machines."""
    program(tmp_path / "usr-bin" / "python3")
    return str(tmp_path / "usr-bin")


def test_the_projects_virtualenv_comes_before_python3_on_path(tmp_path: Path, user_path: str):
    python = venv(tmp_path / "project" / ".venv")
    command = project_command(tmp_path / "project", "", "python train.py", "train.command", {"PATH": user_path})
    assert command.argv == [str(python), "train.py"]
    assert command.env["PATH"] == f"{python.parent}:{user_path}"  # as its activation would do
    assert command.env["VIRTUAL_ENV"] == str(tmp_path / "project" / ".venv")
    assert command.interpreter.chosen_as == "the project's virtualenv .venv"


def test_without_a_virtualenv_python_means_python3_on_path(tmp_path: Path, user_path: str):
    (tmp_path / "project").mkdir()
    command = project_command(tmp_path / "project", "", "python3 -u serve.py", "serve.command", {"PATH": user_path})
    assert command.argv == [f"{user_path}/python3", "-u", "serve.py"]
    assert command.env == {"PATH": user_path}


def test_mps_own_interpreter_only_when_there_is_no_other(tmp_path: Path):
    (tmp_path / "project").mkdir()
    command = project_command(tmp_path / "project", "", "python train.py", "train.command", {"PATH": str(tmp_path)})
    assert command.argv[0] == sys.executable
    assert command.interpreter.chosen_as.startswith("mp's own")


@pytest.mark.parametrize("setting", ["envs/py311", "envs/py311/bin/python", "{root}/envs/py311"])
def test_mp_yaml_names_the_interpreter_or_its_virtualenv(tmp_path: Path, user_path: str, setting: str):
    root = tmp_path / "project"
    venv(root / ".venv")
    python = venv(root / "envs" / "py311")
    command = project_command(root, setting.format(root=root), "python train.py", "train.command", {"PATH": user_path})
    assert command.argv[0] == str(python)
    assert command.env["VIRTUAL_ENV"] == str(root / "envs" / "py311")


def test_mp_yaml_may_name_an_interpreter_on_path(tmp_path: Path, user_path: str):
    python312 = program(Path(user_path) / "python3.12")
    command = project_command(tmp_path, "python3.12", "python train.py", "train.command", {"PATH": user_path})
    assert command.argv[0] == str(python312)


@pytest.mark.parametrize(
    ("setting", "command", "reason"),
    [
        (".venv", "python train.py", "mp.yaml names python: .venv, but {root}/.venv does not exist; set `python:`"),
        ("python3.99", "python train.py", "mp.yaml names python: python3.99, which is not on PATH"),
        ("", "python2 train.py", "`python2` is not on PATH ({path}). `python` and `python3` in a command mean"),
        ("", "./train.sh", "cannot start train.command `./train.sh`: `./train.sh` is not on PATH"),
        ("", "", "train.command in mp.yaml is empty"),
    ],
)
def test_what_cannot_start_says_what_was_looked_for(tmp_path: Path, user_path: str, setting, command, reason):
    with pytest.raises(CommandCannotStart) as refused:
        project_command(tmp_path, setting, command, "train.command", {"PATH": user_path})
    assert reason.format(root=tmp_path, path=user_path) in refused.value.message
