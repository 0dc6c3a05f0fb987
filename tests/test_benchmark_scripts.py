"""Every script in ``benchmarks/`` still imports and parses ``--help``.

The scripts reach into tracegrad's internals, which nothing else imports from there: a rename
inside the package would leave a script failing at its first import line, unnoticed until the
next benchmark run.  Each script is imported in this process (its ``main`` guarded by
``if __name__ == "__main__"``, so nothing runs and nothing compiles) and, where it parses a
command line, its ``main`` is called with ``--help``, which exits in ``argparse`` before any
work.  The ``_``-prefixed helpers are imported only.  Imports inside functions (which run only
when the benchmark does, as ``bench_scaling.py``'s) are checked by reading the source: every
name a script imports from ``tracegrad`` must exist.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
HELPERS = sorted(p for p in BENCHMARKS.glob("_*.py") if p.name != "__init__.py")


def _import(path: Path, monkeypatch):
    """``path`` as a fresh module named ``benchmark_<stem>`` (never ``__main__``); the
    scripts' own ``sys.path`` inserts are undone after the test."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # bench_solver_compile's sibling import
    name = f"benchmark_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_scripts_are_found():
    names = {p.name for p in SCRIPTS}
    assert {"nmf_layouts.py", "bench_scaling.py", "bench_nmf.py"} <= names
    assert "_unrolled_solvers.py" in {p.name for p in HELPERS}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_imports_and_parses_help(path, monkeypatch, capsys):
    module = _import(path, monkeypatch)
    assert 'if __name__ == "__main__"' in path.read_text(), "a script must not run on import"
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
    if "argparse" not in path.read_text():  # bench_nmf_guards: no options to parse
        return
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit) as exit_:
        module.main()  # every main reads sys.argv when given no argv
    assert exit_.value.code in (0, None)
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("path", HELPERS, ids=lambda p: p.stem)
def test_helper_imports(path, monkeypatch):
    _import(path, monkeypatch)


@pytest.mark.parametrize("path", SCRIPTS + HELPERS, ids=lambda p: p.stem)
def test_every_tracegrad_name_imported_exists(path):
    """Including the imports inside functions, which importing the script does not run."""
    missing = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
            continue
        if node.module.split(".")[0] != "tracegrad":
            continue
        module = importlib.import_module(node.module)
        for alias in node.names:
            if hasattr(module, alias.name):
                continue
            try:  # a submodule not yet imported
                importlib.import_module(f"{node.module}.{alias.name}")
            except ImportError:
                missing.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    assert not missing, f"{path.name} imports names tracegrad no longer has: {missing}"
