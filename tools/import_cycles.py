"""Check that no import cycle runs inside the ``tracegrad`` package, nor any import up its layers.

Reads every module's source with ``ast`` (nothing is imported) and records each import of a
``tracegrad`` module, at module level or inside a function (a lazy import), with its line.
``from .pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of
``pkg``; importing ``a.b.c`` does not count the packages ``a`` and ``a.b`` (the ``__init__`` of
``tracegrad`` re-exports everything, so every module would sit in one cycle through it).
``importlib.import_module("tracegrad.x")`` with a literal name counts as an import of it (a
plugin load): ``lint-imports`` does not see those, this script does.

The layers are read from the ``layers`` contract of ``[tool.importlinter]`` in
``pyproject.toml`` (``lint-imports`` checks the imports it sees against them), top to bottom::

    __main__
    _cli : _bench : testing
    identities | nmf
    _registry
    _derive | _bridge | kalman
    _check
    datasets | _cache | _version
    _utils

Prints the strongly connected components of the graph of module-level imports, then of the
graph with the lazy imports and plugin loads added, then every import that goes up the layers.
The one exception is ``PLUGIN_LOADS``: the registry loads the built-in identities, which
register themselves with it (``tracegrad/_registry/registry.py``).

Usage: ``python tools/import_cycles.py [package dir]``; exit status 1 when a cycle remains
without the ``PLUGIN_LOADS`` edges, an import other than those goes up the layers, or a
``PLUGIN_LOADS`` entry is no longer made.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

PLUGIN_LOADS = {("tracegrad._registry.registry", "tracegrad.identities")}
"""``importlib.import_module`` loads allowed to go up the layers (and so close a cycle)."""


def layers(pyproject: Path) -> list[list[str]]:
    """The ``layers`` contract's layers, top to bottom, each a list of full module names."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    (container,) = contract["containers"]
    return [
        [f"{container}.{name.strip()}" for name in layer.replace("|", ":").split(":")]
        for layer in contract["layers"]
    ]


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


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterable[tuple[str, int, str]]:
    """``(imported module, line, kind)`` for each ``tracegrad`` import in ``path``; kind is
    ``"module-level"``, ``"lazy"`` (inside a function) or ``"plugin"`` (``import_module``)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if _is_package(name, modules) else name.rpartition(".")[0]
    lazy_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy_nodes.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        kind = "lazy" if id(node) in lazy_nodes else "module-level"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno, kind
        elif (  # importlib.import_module("tracegrad.x"): a plugin load, named by a string
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in modules
        ):
            yield node.args[0].value, node.lineno, "plugin"
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
                yield (sub if sub in modules else target), node.lineno, kind


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


def edges(root: Path) -> list[tuple[str, str, int, str]]:
    """``(importer, imported, line, kind)`` for every import between modules under ``root``."""
    modules = _modules(root)
    return [
        (name, target, line, kind)
        for name, path in modules.items()
        for target, line, kind in _imports(name, path, modules)
        if target != name
    ]


def cycles(found: list[tuple[str, str, int, str]], kinds: set[str]) -> list[list[str]]:
    """The import cycles (modules of each, sorted) among the imports of ``kinds``."""
    graph: dict[str, set[str]] = {}
    for a, b, _, kind in found:
        if kind in kinds:
            graph.setdefault(a, set()).add(b)
    return _scc(graph)


def layer_breaks(
    found: list[tuple[str, str, int, str]], order: list[list[str]]
) -> list[tuple[str, str, int, str]]:
    """The imports that go up the layers (``order``: top to bottom)."""

    def level(name: str) -> int | None:
        for i, packages in enumerate(order):
            if any(name == p or name.startswith(p + ".") for p in packages):
                return i
        return None

    out = []
    for edge in found:
        la, lb = level(edge[0]), level(edge[1])
        if la is not None and lb is not None and lb < la:
            out.append(edge)
    return sorted(out)


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "tracegrad").resolve()
    found = edges(root)
    all_kinds = {"module-level", "lazy", "plugin"}
    # the cycles that remain without the allowed plugin loads fail the check
    failing = cycles([e for e in found if (e[0], e[1]) not in PLUGIN_LOADS], all_kinds)
    for title, kinds in (("module-level imports", {"module-level"}), ("all imports", all_kinds)):
        comps = cycles(found, kinds)
        print(f"cycles, {title}: {len(comps) or 'none'}")
        for comp in comps:
            bad = [c for c in failing if set(c) <= set(comp)]
            print("  " + " <-> ".join(comp) + ("" if bad else "   (PLUGIN_LOADS; allowed)"))
            for c in bad:
                print(f"    not allowed: {' <-> '.join(c)}")
    status = int(bool(failing))
    breaks = layer_breaks(found, layers(root.parent / "pyproject.toml"))
    print(f"imports up the layers: {len(breaks) or 'none'}")
    for a, b, line, kind in breaks:
        allowed = (a, b) in PLUGIN_LOADS and kind == "plugin"
        print(f"  {a}:{line} imports {b} ({kind}){'   (PLUGIN_LOADS; allowed)' * allowed}")
        status = status or int(not allowed)
    made = {(a, b) for a, b, _, kind in found if kind == "plugin"}
    for a, b in sorted(PLUGIN_LOADS - made):
        print(f"PLUGIN_LOADS: {a} no longer loads {b} with import_module: drop the entry")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
