"""The repository's folders are not import names: server/ installs as mlmp_server (setup.py). pytest puts the
repository's root on sys.path (for tests.helpers), where `import server` would load a second copy of every module,
so a patch of "server.x.y" would patch a module nobody uses. In the test process, the folder names do not import."""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

FOLDER_NAMES = {"server": "mlmp_server", "interceptors": "mlmp_interceptors", "cli": "mlmp_cli",
                "marketplace": "mlmp_marketplace"}  # fmt: skip


class FolderNamesDoNotImport(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname in FOLDER_NAMES:
            raise ModuleNotFoundError(
                f"{fullname}/ is a folder of the repository; its modules import as {FOLDER_NAMES[fullname]}",
                name=fullname,
            )
        return None


def refuse_folder_names() -> None:
    if not any(isinstance(finder, FolderNamesDoNotImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, FolderNamesDoNotImport())
