"""No import cycle inside ``tracegrad/``, and no import up its layers (``tools/import_cycles.py``).

Read from the source (``ast``), so function-level imports count as much as module-level ones:
a cycle that a lazy import merely postpones still fails here.  The one exception is the
tool's ``PLUGIN_LOADS``: the registry loading the built-in identities with
``importlib.import_module``, which ``lint-imports`` (CI's layer check) does not see.
"""

import functools
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools/import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _edges() -> list[tuple[str, str, int, str]]:
    return _tool().edges(ROOT / "tracegrad")


def _targets(importer: str, kind: str) -> set[str]:
    return {b for a, b, _, k in _edges() if a == importer and k == kind}


def test_the_graph_sees_lazy_imports_and_plugin_loads():
    assert "tracegrad._cli._select_rank_cmd" in _targets("tracegrad._cli._nmf_cmd", "module-level")
    assert "tracegrad.datasets" in _targets("tracegrad._cli._nmf_cmd", "lazy")
    assert "tracegrad._cli" in _targets("tracegrad._bench._cold_child", "lazy")
    loads = {(a, b) for a, b, _, kind in _edges() if kind == "plugin"}
    assert loads == _tool().PLUGIN_LOADS


def test_no_import_cycle_but_the_plugin_loads():
    tool = _tool()
    rest = [e for e in _edges() if (e[0], e[1]) not in tool.PLUGIN_LOADS]
    cycles = tool.cycles(rest, {"module-level", "lazy", "plugin"})
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_import_up_the_layers_but_the_plugin_loads():
    tool = _tool()
    layers = tool.layers(ROOT / "pyproject.toml")
    assert layers[-1] == ["tracegrad._utils"]
    breaks = [
        f"{a}:{line} imports {b} ({kind})"
        for a, b, line, kind in tool.layer_breaks(_edges(), layers)
        if not ((a, b) in tool.PLUGIN_LOADS and kind == "plugin")
    ]
    assert not breaks, "imports up the layers:\n" + "\n".join(breaks)


def test_the_script_passes():
    assert _tool().main(["import_cycles.py", str(ROOT / "tracegrad")]) == 0
