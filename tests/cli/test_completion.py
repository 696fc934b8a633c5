"""Shell completion: the README says how to turn it on, and what it says works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.processes import clean_env, run

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_readme_says_how_to_complete_in_each_shell_and_it_works(shell: str):
    assert re.search(rf"_MP_COMPLETE={shell}_source mp\b", README), f"the README does not say how for {shell}"
    script = run("mp", env=clean_env(_MP_COMPLETE=f"{shell}_source"))
    assert script.returncode == 0, script.stderr
    assert "_MP_COMPLETE" in script.stdout


def test_commands_and_options_complete():
    commands = run("mp", env=clean_env(_MP_COMPLETE="bash_complete", COMP_WORDS="mp da", COMP_CWORD="1"))
    assert commands.stdout.split() == ["plain,data"]
    options = run("mp", env=clean_env(_MP_COMPLETE="bash_complete", COMP_WORDS="mp signals tail --si",
                                      COMP_CWORD="3"))  # fmt: skip
    assert "plain,--since" in options.stdout.split()
