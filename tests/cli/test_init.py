"""`mp init` as a vendor runs it: the naming rule and its message agree, and a changed name is said."""

from __future__ import annotations

import json
from pathlib import Path

from mlmp_cli.exit_codes import ExitCode
from tests.helpers.processes import clean_env, run


def test_a_name_the_rule_refuses_is_refused_with_the_rule_it_breaks(tmp_path: Path):
    refused = run("mp", "init", str(tmp_path / "y"), env=clean_env())
    assert refused.returncode == ExitCode.USAGE
    assert "'y' cannot name a project" in refused.stderr
    assert "2 to 63 characters" in refused.stderr  # the part `y` breaks, said
    assert not (tmp_path / "y").exists()


def test_a_renamed_project_is_said(tmp_path: Path):
    created = run("mp", "init", str(tmp_path / "My_Model"), env=clean_env())
    assert created.returncode == 0, created.stderr
    assert "The project is named my-model (its folder's name 'My_Model'" in created.stderr
    assert "name: my-model" in (tmp_path / "My_Model" / "mp.yaml").read_text()
    kept = run("mp", "init", str(tmp_path / "model-2"), env=clean_env())
    assert "The project is named" not in kept.stderr


def test_init_prints_json_for_scripts(tmp_path: Path):
    created = run("mp", "init", "--json", str(tmp_path / "ab"), env=clean_env())
    assert created.returncode == 0, created.stderr
    result = json.loads(created.stdout)
    assert (result["name"], result["template"]) == ("ab", "runpod-signal-http")
    assert str(tmp_path / "ab" / "mp.yaml") in result["files"]
    listed = json.loads(run("mp", "init", "--list", "--json", env=clean_env()).stdout)
    assert "runpod-signal-http" in [t["name"] for t in listed]
