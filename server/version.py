"""The installed distribution's version."""

from importlib.metadata import PackageNotFoundError, version

try:
    SERVER_VERSION = version("ml-marketplace")
except PackageNotFoundError:  # running from a source tree that was never installed
    SERVER_VERSION = "0+unknown"

API_VERSION = "v1"
