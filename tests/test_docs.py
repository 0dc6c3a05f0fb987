"""The documentation site covers the public API: every public name has a reference entry.

A name re-exported from ``tracegrad`` (or its public sub-namespaces) without a ``::: name``
entry in ``docs/reference/*.md`` fails here, so the API reference cannot silently fall behind.
(The strict ``mkdocs build`` in ``.ci/run`` then checks that every entry renders.)
"""

import re
from pathlib import Path

import pytest

import tracegrad

ROOT = Path(__file__).resolve().parent.parent
NAMESPACES = ("tracegrad", "tracegrad.nmf", "tracegrad.kalman", "tracegrad.testing",
              "tracegrad.datasets")  # fmt: skip


def _public(module_name: str) -> list[str]:
    module = __import__(module_name, fromlist=["_"])
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__name__", "").startswith(module_name + "."):
            continue  # private, or a sub-namespace documented on its own page
        if module_name == "tracegrad.testing" and getattr(value, "__module__", "") != module_name:
            continue  # testing.py's own imports (Identity, Callable, ...)
        names.append(f"{module_name}.{name}")
    return names


def _documented() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)", text, flags=re.M))


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_public_name_has_a_reference_entry(namespace):
    missing = sorted(set(_public(namespace)) - _documented())
    assert not missing, f"add '::: name' entries to docs/reference/*.md for {missing}"


def test_reference_entries_name_real_objects():
    for entry in _documented():
        module, _, attr = entry.rpartition(".")
        try:
            obj = __import__(entry, fromlist=["_"])
        except ImportError:
            obj = getattr(__import__(module, fromlist=["_"]), attr, None)
        assert obj is not None, f"docs/reference names {entry}, which does not exist"
    assert tracegrad.__version__
