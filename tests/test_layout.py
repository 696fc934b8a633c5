"""The layout's rules that import-linter cannot state: test modules share code only through
tests/helpers/ and conftest fixtures, and every test lives in a folder that mirrors the code."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


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
