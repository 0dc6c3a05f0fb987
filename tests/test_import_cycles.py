"""No import cycle runs through ``tracegrad._cli`` or ``tracegrad.nmf``.

Read from the source (``ast``), so function-level imports count as much as module-level ones:
a cycle that a lazy import merely postpones (``_nmf_cmd`` and ``_select_rank_cmd`` importing
each other once) still fails here.  ``from pkg import name`` is an edge to ``pkg.name`` when
that is a module, else to ``pkg`` itself (whose ``__init__`` then runs).

``ALLOWED`` names the function-level imports that may close a cycle, each documented where it
is made; the test checks they stay inside functions.
"""

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("tracegrad._cli", "tracegrad.nmf")
ALLOWED: set[tuple[str, str]] = set()


@functools.cache
def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / "tracegrad").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path], top_only=False) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text())
    for node in tree.body if top_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if node.level:
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    for a, b in ALLOWED:
        graph[a].discard(b)
    return graph


def test_allowed_imports_stay_inside_functions():
    modules = _modules()
    for a, b in ALLOWED:
        assert b in _imports(a, modules[a], modules), f"{a} no longer imports {b}: drop it"
        assert b not in _imports(a, modules[a], modules, top_only=True), f"{a} -> {b}"


def _cycle_through(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """The shortest import path from ``start`` back to itself, if any (breadth first)."""
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return None


def test_the_graph_sees_the_cli_commands():
    graph = _graph()
    assert "tracegrad._cli._mesh" in graph["tracegrad._cli._select_rank_cmd"]
    assert "tracegrad._cli._select_rank_cmd" in graph["tracegrad._cli._nmf_cmd"]


@pytest.mark.parametrize("package", CHECKED)
def test_no_import_cycle(package):
    graph = _graph()
    cycles = []
    for name in sorted(graph):
        if name == package or name.startswith(package + "."):
            cycle = _cycle_through(name, graph)
            if cycle and all(set(cycle) != set(c) for c in cycles):
                cycles.append(cycle)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
