"""`bidroom --version`: the installed distribution's version, as pip knows it."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("bidroom")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
