"""Bar charts of benchmark results (needs matplotlib, the ``plot`` extra).

Each suite's result is reduced to grouped bars: ``series`` (a legend entry, e.g. ``n=256``)
-> ``label`` (a bar position, e.g. an identity) -> value, drawn with a reference line (1.0:
"as fast as the baseline").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .._utils import atomic_path

Series = Mapping[str, Mapping[str, float]]


def suite_bars(suite: str, result: dict) -> tuple[Series, str, str]:
    """``(series, ylabel, title)`` for a suite's result dict (as the ``run_*`` functions return)."""
    if suite == "grads":
        series = {
            f"n={n}": {r["identity"]: r["ratio"] for r in result["rows"] if r["n"] == n}
            for n in result["sizes"]
        }
        title = f"closed form vs jax.grad ({result['dtype']}), geomean {result['geomean']:.2f}x"
        return series, "speed-up over jax.grad (x)", title
    if suite == "derive":
        sizes = sorted({r["n"] for r in result["rows"]})
        series = {
            f"n={n}": {r["name"]: r["ratio"] for r in result["rows"] if r["n"] == n} for n in sizes
        }
        return series, "speed-up over jax.grad (x)", f"derived vs jax.grad ({result['dtype']})"
    if suite == "nmf":
        speedup: dict[str, float] = {}
        peak: dict[str, float] = {}
        for workload in ("single", "batch"):
            for loss, entry in result[workload].items():
                label = f"({'a' if workload == 'single' else 'b'}) {loss}"
                peak[label] = entry["fraction_of_peak"]
                if "speedup" in entry:
                    speedup[label] = entry["speedup"]
        series = {"fraction of matmul peak": peak}
        if speedup:
            series = {"speed-up over scikit-learn (x)": speedup, **series}
        return series, "ratio", "tracegrad NMF vs scikit-learn MU"
    if suite == "bridge":
        series = {
            mode: {name: 1.0 / r["vs_jax_grad"] for name, r in rows.items()}
            for mode, rows in result["ratios"].items()
        }
        return series, "speed relative to jax.grad (x)", "bridge step time"
    raise ValueError(f"unknown benchmark suite {suite!r}")


def bar_chart(path: str | Path, suite: str, result: dict) -> Path | None:
    """Write a grouped bar chart of ``result`` to ``path`` (PNG); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    series, ylabel, title = suite_bars(suite, result)
    labels = list(dict.fromkeys(label for values in series.values() for label in values))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(labels) * len(series) + 2), 4.5))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, label in enumerate(labels)
              if label in values]  # fmt: skip
        ax.bar(xs, [values[label] for label in labels if label in values], width, label=name)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if suite in ("grads", "derive"):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
