"""The local training provider: `mp train start` trains on this machine, in the foreground or detached.

The round's files are pulled into the project's .mp/rounds, the run is created, and the executor
runs mp.yaml's train command for it (in a background `mp train _execute` with --detach).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlmp_cli import output
from mlmp_cli.context import Context
from mlmp_cli.training.runs import RunSpec, create_run, finish, print_created

if TYPE_CHECKING:
    from mlmp_cli.project import Project


def pull_round_into_project(ctx: Context, project: Project, round_: Any, quiet: bool) -> Path:
    """The round's files in the project's .mp/rounds (downloaded or resumed as needed, sha256 checked)."""
    from mlmp_cli.project import rounds_folder
    from mlmp_cli.transfers.pull import pull_round

    folder = rounds_folder(project.root, round_.number)
    pull_round(ctx, round_, folder, show_progress=not quiet)
    return folder


def artifact_folder(project: Project, run_id: str) -> Path:
    return project.root / ".mp" / "runs" / run_id / "artifacts"


def train_locally(ctx: Context, project: Project, round_: Any, spec: RunSpec, detach: bool, as_json: bool) -> None:
    """Trains here and exits with the run's outcome; with `detach`, returns once the run has started."""
    round_dir = pull_round_into_project(ctx, project, round_, as_json)
    run = create_run(ctx, project, round_.number, spec)
    artifact_dir = artifact_folder(project, run.id)
    if detach:
        _spawn_executor(run.id, project.root, round_dir, artifact_dir, json.dumps(spec.hyperparameters))
        print_created(run, as_json)
        return None
    output.note(f"run {run.id}: training {project.name} on round {round_.number} ({project.train_command})")
    outcome = execute_run(ctx, run.id, project, round_dir, artifact_dir, spec.hyperparameters, quiet=as_json)
    finish(ctx, run.id, outcome, as_json)


def execute_run(
    ctx: Context, run_id: str, project: Project, round_dir: Path, artifact_dir: Path, hyperparameters: dict[str, Any],
    quiet: bool = False,
) -> str:  # fmt: skip
    """Runs the project's train command for the run, reporting to it; returns the run's final state."""
    from mlmp_cli.training.executor import LocalExecutor

    executor = LocalExecutor(
        call=ctx.call, stub=ctx.training, run_id=run_id, command=project.train_command, python=project.python,
        cwd=project.root, round_dir=round_dir, artifact_dir=artifact_dir, hyperparameters=hyperparameters,
        echo=(lambda _line: None) if quiet else output.note,
    )  # fmt: skip
    return executor.run()


def _spawn_executor(run_id: str, root: Path, round_dir: Path, artifact_dir: Path, hyperparameters_json: str) -> None:
    log = root / ".mp" / "runs" / run_id / "executor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        subprocess.Popen(
            [sys.executable, "-c", "from mlmp_cli.main import main; main()", "train", "_execute", run_id,
             "--round-dir", str(round_dir), "--artifact-dir", str(artifact_dir), "--hyperparameters",
             hyperparameters_json],
            cwd=root, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip
