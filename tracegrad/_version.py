"""The package version, from the installed package's metadata; pyproject.toml is the one source.

A source checkout that is not installed (the tests run with ``pythonpath = ["."]``) reads the
same pyproject.toml directly.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path


def _version() -> str:
    try:
        return importlib.metadata.version("tracegrad")
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as fh:
            project = tomllib.load(fh).get("project", {})
        if project.get("name") == "tracegrad" and "version" in project:
            return str(project["version"])
    return "0+unknown"


__version__ = _version()
