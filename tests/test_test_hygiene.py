"""The tests speak the public API, and share their case tables from one place.

Read from the source (``ast``: nothing is imported or compiled):

- a test module that imports a private module (``tracegrad._x``, ``tracegrad.pkg._x``, or
  ``from tracegrad.pkg import _x``) carries the ``internals`` marker, at module level
  (``pytestmark``) or, for an import inside a test, on that test: reaching past the API is a
  choice made where the public API cannot reach the case, and ``pytest -m internals`` lists
  every such test; ``helpers.py`` and ``conftest.py``, read by every test, import nothing
  private;
- every public UPPERCASE table of ``tests/helpers.py`` is imported by some test module.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import tracegrad as tg

TESTS = Path(__file__).resolve().parent


def _is_private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tracegrad" and any(
        p.startswith("_") and not p.startswith("__") for p in parts[1:]
    )


def _private_imports(node: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` of every private tracegrad module imported anywhere under ``node``."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found += [(sub.lineno, a.name) for a in sub.names if _is_private(a.name)]
        elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
            if _is_private(sub.module):
                found.append((sub.lineno, sub.module))
            elif sub.module.split(".")[0] == "tracegrad":
                names = [f"{sub.module}.{a.name}" for a in sub.names]
                found += [(sub.lineno, n) for n in names if _is_private(n)]
    return found


def _marks_internals(node: ast.AST) -> bool:
    """Whether ``node`` (a decorator or ``pytestmark``'s value) names ``pytest.mark.internals``."""
    return any(
        isinstance(sub, ast.Attribute)
        and sub.attr == "internals"
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "mark"
        for sub in ast.walk(node)
    )


def _violations(source: str, name: str) -> list[str]:
    """The private imports of a test module that no ``internals`` marker covers."""
    tree = ast.parse(source)
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            if _marks_internals(stmt.value):  # type: ignore[union-attr]
                return []
    out = []
    for stmt in tree.body:
        is_test = isinstance(
            stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ) and stmt.name.lower().startswith("test")
        if is_test and any(_marks_internals(d) for d in stmt.decorator_list):  # type: ignore[union-attr]
            continue
        out += [f"{name}:{line} imports {module}" for line, module in _private_imports(stmt)]
    return out


def test_private_imports_carry_the_internals_marker():
    bad = [
        v
        for path in sorted(TESTS.glob("test_*.py"))
        for v in _violations(path.read_text(), path.name)
    ]
    assert not bad, (
        "a test that imports a private module must carry `pytest.mark.internals` (module-level "
        "`pytestmark`, or on the test), with a comment saying what the public API cannot "
        "reach; better, test the public behaviour instead:\n" + "\n".join(bad)
    )


def test_shared_modules_import_nothing_private():
    for name in ("helpers.py", "conftest.py"):
        assert not _private_imports(ast.parse((TESTS / name).read_text())), name


def test_the_check_sees_every_kind_of_private_import():
    for line, module in (
        ("import tracegrad._cli", "tracegrad._cli"),
        ("from tracegrad._cli import main", "tracegrad._cli"),
        ("from tracegrad.nmf import _execute", "tracegrad.nmf._execute"),
        ("from tracegrad.nmf._losses import resolve_loss", "tracegrad.nmf._losses"),
    ):
        assert _violations(line, "m") == [f"m:1 imports {module}"], line
        assert _violations(f"import pytest\npytestmark = pytest.mark.internals\n{line}", "m") == []
        marked = f"import pytest\n@pytest.mark.internals\ndef test_x():\n    {line}\n"
        assert _violations(marked, "m") == []
        fixture = f"import pytest\n@pytest.mark.internals\ndef helper():\n    {line}\n"
        assert _violations(fixture, "m"), "a mark on a non-test does not mark a test"
    assert _violations("import tracegrad as tg\nfrom tracegrad.nmf import SOLVERS", "m") == []


@functools.cache
def _helpers_tables() -> set[str]:
    tree = ast.parse((TESTS / "helpers.py").read_text())
    return {
        t.id
        for stmt in tree.body
        if isinstance(stmt, (ast.Assign, ast.AnnAssign))
        for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
        if isinstance(t, ast.Name) and t.id.isupper() and not t.id.startswith("_")
    }


def test_every_helpers_table_is_read_by_a_test():
    imported = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "helpers":
                imported |= {a.name for a in node.names}
    unused = _helpers_tables() - imported
    assert _helpers_tables() and not unused, f"tables in tests/helpers.py no test reads: {unused}"


def test_the_shipped_identities_table_is_every_built_in_identity():
    from helpers import SHIPPED_IDENTITIES

    builtin = {n for n, i in tg.registry().items() if i.module.startswith("tracegrad.identities.")}
    assert len(SHIPPED_IDENTITIES) == len(set(SHIPPED_IDENTITIES))
    assert set(SHIPPED_IDENTITIES) == builtin
