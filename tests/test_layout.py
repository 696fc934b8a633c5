"""The layout's rules that import-linter cannot state: test modules share code only through
tests/helpers/ and conftest fixtures, and every test lives in a folder that mirrors the code."""

import ast
import os
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
# Folders of the repository, not import names: the package installs them as mlmp_server, mlmp_interceptors, mlmp_cli
# and mlmp_marketplace (setup.py). From the repository's root the folder names import too, as a second copy of
# each module: a test would pass here and the wheel would fail.
FOLDER_NAMES = {"server", "interceptors", "cli", "marketplace"}
NOT_OURS = {".git", ".venv", "venv", "node_modules", "build", "dist", "generated", "__pycache__"}


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def _our_python_files():
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS and not name.endswith(".egg-info")]
        yield from (Path(folder) / name for name in files if name.endswith(".py"))


def test_code_imports_our_packages_by_their_import_names_not_their_folders():
    offenders = {
        f"{path.relative_to(REPO)} imports {module}"
        for path in _our_python_files()
        for module in _imported_modules(path)
        if module.split(".")[0] in FOLDER_NAMES
    }
    assert not offenders, "server/ imports as mlmp_server (cli/ as mlmp_cli, …):\n" + "\n".join(sorted(offenders))


def test_no_test_module_imports_another_test_module():
    offenders = {
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        if "helpers" not in path.relative_to(TESTS).parts
        for module in _imported_modules(path)
        if module.startswith("tests.") and not module.startswith("tests.helpers")
    }
    assert not offenders, "share through tests/helpers/ or a conftest fixture instead:\n" + "\n".join(sorted(offenders))


def test_every_test_module_sits_in_a_folder_that_mirrors_the_code():
    roots = {"server", "interceptors", "cli", "gateway", "e2e", "fuzz"}
    stray = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.parent != TESTS and path.relative_to(TESTS).parts[0] not in roots
    ]
    assert not stray, f"tests outside the mirrored folders: {stray}"
