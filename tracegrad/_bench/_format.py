"""Plain-text tables of benchmark rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def aligned_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Header, a dashed rule and the rows: first column left-aligned, the others right."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [
        fmt.format(*header),
        fmt.format(*("-" * w for w in widths)),
        *(fmt.format(*row) for row in rows),
    ]


COMPILE_HEADER = ("compiles", "compile s")
"""The two columns every suite's table carries beside its run times (see ``compile_cells``)."""


def compile_cells(row: Mapping, prefix: str = "") -> tuple[str, str]:
    """A row's XLA compilations in its cold phase (``Compiles.fields``): count, seconds.

    The count is followed by ``(N cached)`` when the persistent cache supplied N of them;
    ``-`` for a row measured without counting.
    """
    count = row.get(f"{prefix}compile_count")
    if count is None:
        return "-", "-"
    hits = row.get(f"{prefix}cache_hits") or 0
    return (f"{count} ({hits} cached)" if hits else str(count)), f"{row[f'{prefix}compile_s']:.2f}"


def device_line(result: Mapping, *, numpy: bool = False) -> str:
    """The measurement conditions' first line: device, CPUs and the library versions (NumPy's
    too with ``numpy``) from a result's ``environment``."""
    env = result["environment"]
    return (
        f"device: {env['device']} ({result['device_kind']}), {env['cpu_count']} CPUs, "
        f"jax {env['jax']}, " + (f"numpy {env['numpy']}, " if numpy else "")
        + f"scikit-learn {env.get('scikit-learn', '-')}"
    )  # fmt: skip


def openblas_line(result: Mapping) -> str:
    """Whether the OpenBLAS variables that slow scikit-learn's side were set during the run."""
    return "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: " + (
        f"SET {result['openblas_vars']}" if result["openblas_vars"] else "unset"
    )


def workload_labels(cfg: Mapping) -> tuple[tuple[str, str], ...]:
    """``(workload, label)`` for the single-problem and the batched workload of ``cfg``."""
    s, b = cfg["single"], cfg["batch"]
    return (
        ("single", f"(a) {s['m']}x{s['n']} rank {s['rank']}"),
        ("batch", f"(b) {b['batch']} x {b['m']}x{b['n']} rank {b['rank']}"),
    )
