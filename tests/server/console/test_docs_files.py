"""The Quickstart page's data (static/docs/quickstart.json) is the README's "Quick start" section, regenerated
here and compared with the committed file: the README stays the one place its steps are written."""

from __future__ import annotations

from pathlib import Path

from mlmp_server.console.quickstart import blocks, quickstart, render, section

ROOT = Path(__file__).parents[3]
COMMITTED = ROOT / "server" / "console" / "static" / "docs" / "quickstart.json"


def test_the_committed_quickstart_is_the_readmes_quick_start():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert COMMITTED.read_text(encoding="utf-8") == render(readme), "README.md changed: run `make docs` and commit"


def test_the_quickstart_has_the_vendor_path_from_login_to_signals():
    commands = "\n".join(
        block["text"] for block in quickstart((ROOT / "README.md").read_text(encoding="utf-8"))["blocks"]
        if block["kind"] == "code"
    )
    for step in ("make run", "mp login", "mp init", "mp train start", "mp deploy", "mp signals tail"):
        assert step in commands


def test_a_changed_readme_changes_the_quickstart():
    readme = (
        "# X\n\n## Quick start (a)\n\nInstall:\n\n```\nmake run\n## not a heading\n```\n\n"
        "- one\n  more\n- two\n\n## Next\n"
    )
    assert section(readme) == ["", "Install:", "", "```", "make run", "## not a heading", "```", "", "- one",
                               "  more", "- two", ""]  # fmt: skip
    assert blocks(section(readme)) == [
        {"kind": "paragraph", "text": "Install:"},
        {"kind": "code", "text": "make run\n## not a heading"},
        {"kind": "list", "items": ["one more", "two"]},
    ]
    assert render(readme) != render(readme.replace("make run", "make install"))
