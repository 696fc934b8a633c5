"""The part of the package layout pyproject.toml cannot state: each folder of the repository installs under an
import name of our own, so the wheel puts nothing named `server`, `cli`, `interceptors` or `marketplace` into a
user's site-packages (other distributions ship those names too). Every package below these folders ships without
being listed: a new subpackage cannot be forgotten. Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import find_packages, setup

# import name -> folder (the Makefile's PACKAGES links the same pairs for mypy)
PACKAGE_DIRS = {
    "mlmp_server": "server",
    "mlmp_interceptors": "interceptors",
    "mlmp_cli": "cli",
    "mlmp_marketplace": "generated/marketplace",  # protoc's output for the proto package marketplace.v1
}


def packages() -> list[str]:
    root = Path(__file__).parent
    found = []
    for name, folder in PACKAGE_DIRS.items():
        # the folders of cli/templates are a vendor's project files (package data), not modules of ours
        below = find_packages(str(root / folder), exclude=["templates", "templates.*"])
        found += [name, *(f"{name}.{package}" for package in below)]
    return found


setup(package_dir=PACKAGE_DIRS, packages=packages())
