"""Report import cycles and layer breaks inside the ``tracegrad`` package.

Reads every module's source with ``ast`` (nothing is imported) and records each import of a
``tracegrad`` module, at module level or inside a function (a lazy import), with its line.
``from .pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of
``pkg``; importing ``a.b.c`` does not count the packages ``a`` and ``a.b`` (the ``__init__`` of
``tracegrad`` re-exports everything, so every module would sit in one cycle through it).
``importlib.import_module("tracegrad.x")`` with a literal name counts as an import of it.

Prints the strongly connected components of the graph of module-level imports, then of the
graph with the lazy imports added, then every import that goes up the layers::

    tracegrad.identities | tracegrad.nmf                (top)
    tracegrad._registry
    tracegrad._derive | tracegrad._bridge | tracegrad.kalman
    tracegrad._check                                   (bottom)

Usage: ``python tools/import_cycles.py [package dir]``; exit status 1 when a cycle spans two
or more modules of one of the packages in ``CHECKED`` or an import goes up the layers.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

LAYERS = (
    ("tracegrad.identities", "tracegrad.nmf"),
    ("tracegrad._registry",),
    ("tracegrad._derive", "tracegrad._bridge", "tracegrad.kalman"),
    ("tracegrad._check",),
)
"""Top to bottom: a module may import its own layer's package and the layers below it."""

CHECKED = ("tracegrad._check", "tracegrad._registry", "tracegrad._bridge")
"""Packages that must have no import cycle among their own modules."""


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterable[tuple[str, int, bool]]:
    """``(imported module, line, lazy)`` for each ``tracegrad`` import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    lazy_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy_nodes.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno, lazy
        elif (  # importlib.import_module("tracegrad.x"): a plugin load, named by a string
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in modules
        ):
            yield node.args[0].value, node.lineno, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in modules:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in modules else target), node.lineno, lazy


def _scc(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _layer(name: str) -> int | None:
    for level, packages in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in packages):
            return level
    return None


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "tracegrad").resolve()
    modules = _modules(root)
    edges = [
        (name, target, line, lazy)
        for name, path in modules.items()
        for target, line, lazy in _imports(name, path, modules)
        if target != name
    ]
    status = 0
    for title, use_lazy in (("module-level imports", False), ("with lazy imports", True)):
        graph: dict[str, set[str]] = {}
        for a, b, _, lazy in edges:
            if use_lazy or not lazy:
                graph.setdefault(a, set()).add(b)
        cycles = _scc(graph)
        print(f"cycles, {title}: {len(cycles) or 'none'}")
        for comp in cycles:
            print("  " + " <-> ".join(comp))
            inside = [p for p in CHECKED if sum(m.startswith(p + ".") for m in comp) > 1]
            if inside:
                print(f"    (within {', '.join(inside)})")
                status = 1
    breaks = []
    for a, b, line, lazy in edges:
        la, lb = _layer(a), _layer(b)
        if la is not None and lb is not None and lb < la:
            kind = "lazy" if lazy else "module-level"
            breaks.append(f"  {a}:{line} imports {b} ({kind})")
    print(f"imports up the layers: {len(breaks) or 'none'}")
    print("\n".join(sorted(breaks)) if breaks else "", end="\n" if breaks else "")
    return 1 if breaks else status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
