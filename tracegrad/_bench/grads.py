"""Every registry identity's closed form against ``jax.grad`` of its objective.

For each identity and each size ``n`` of its sampler: both the closed form and
``jax.grad(objective, argnums=wrt)`` are compiled ahead of time with every operand a jit
argument (nothing closed over, so nothing is constant-folded), compilation excluded, and timed
in alternation in one process (``time_interleaved``) with ``block_until_ready``.  The ratio is
``jax.grad median / closed-form median``: above 1 the closed form is faster.  Each row also
records how far the two results are apart at that size (normwise, relative), so a timing is
never of a closed form that has stopped agreeing with autodiff.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._registry.registry import registry
from .._utils import shape_str
from ._compiles import count_compiles
from ._format import COMPILE_HEADER, aligned_table, compile_cells
from ._timing import compile_jitted, environment, time_interleaved


def geometric_mean(values) -> float:
    """Geometric mean of the positive, finite ``values`` (NaN when there are none)."""
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def run_grads(
    sizes=(256, 1024),
    dtype: str = "float32",
    n_runs: int = 10,
    only: str | None = None,
    progress: Callable[[dict], None] | None = None,
    min_time: float = 0.1,
) -> dict:
    """Time each registry identity's closed form against ``jax.grad`` of its objective.

    Args:
        sizes: the samplers' characteristic sizes ``n`` (shapes are near ``n``, rectangular).
        dtype: floating dtype of the sampled operands (``"float64"`` runs under a scoped
            ``jax.enable_x64``).
        n_runs: the least number of timed runs per median (after two warm-up calls each).
        only: a regular expression; only identities whose name it matches are timed.
        progress: called with each row as soon as it is measured.
        min_time: keep alternating (beyond ``n_runs``, up to 5000 runs) until each side has
            run this many seconds, so microsecond-scale medians are stable too.

    Returns:
        ``{"environment", "dtype", "n_runs", "sizes", "rows", "geomean", "geomean_by_size"}``;
        each row has ``identity``, ``n``, ``shapes`` (argument name -> ``"3x4"``),
        ``closed_s`` and ``grad_s`` (medians, seconds), ``runs`` (timed runs of each),
        ``ratio`` (``grad_s / closed_s``), ``compile_count`` and ``compile_s`` (both sides'
        XLA compilations and their first calls, ``Compiles.fields``),
        ``max_rel_diff`` (``max|closed - grad| / max|grad|``) and ``grad_all_zero`` (jax.grad
        returned zeros where the closed form did not: a jax.grad failure, shown as ``grad=0!``).
    """
    dtype_ = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype_, jnp.floating):
        raise ValueError(f"dtype must be floating, got {dtype}")
    pattern = re.compile(only) if only else None
    identities = [i for name, i in registry().items() if pattern is None or pattern.search(name)]
    if not identities:
        raise ValueError(f"no registered identity matches {only!r}")
    x64 = jax.enable_x64(True) if dtype_ == jnp.float64 else contextlib.nullcontext()
    rows = []
    with x64:
        for ident in identities:
            reference = jax.grad(ident.objective, argnums=ident.wrt)
            for n in sizes:
                args = ident.arguments(0, dtype_, n)
                with count_compiles() as compiles:  # both programs and their first calls
                    closed = compile_jitted(ident.gradient, *args)
                    autodiff = compile_jitted(reference, *args)
                    c, g = np.asarray(closed(*args)), np.asarray(autodiff(*args))
                scale = float(np.max(np.abs(g))) if g.size else 0.0
                diff = float(np.max(np.abs(c.astype(np.float64) - g))) if g.size else 0.0
                t_closed, t_grad = time_interleaved(
                    [closed, autodiff], *args, n_runs=n_runs, min_time=min_time
                )
                row = {
                    "identity": ident.name,
                    "n": n,
                    "shapes": {
                        a: shape_str(x.shape) for a, x in zip(ident.argnames, args, strict=True)
                    },
                    "wrt": ident.wrt_name,
                    "closed_s": t_closed.median,
                    "grad_s": t_grad.median,
                    "ratio": t_grad.median / t_closed.median,
                    "runs": t_closed.runs,
                    "max_rel_diff": diff / scale if scale > 0 else diff,
                    # jax.grad all zeros where the closed form is not (hu.det at n=1024 in
                    # float32: jnp.linalg.det's cumulative product underflows)
                    "grad_all_zero": bool(scale == 0 and diff > 0),
                    **compiles.fields(),
                }
                rows.append(row)
                if progress is not None:
                    progress(row)
    return {
        "environment": environment(),
        "dtype": str(dtype_),
        "n_runs": n_runs,
        "min_time": min_time,
        "sizes": list(sizes),
        "rows": rows,
        "geomean": geometric_mean([r["ratio"] for r in rows]),
        "geomean_by_size": {
            str(n): geometric_mean([r["ratio"] for r in rows if r["n"] == n]) for n in sizes
        },
    }


def format_grads(result: dict) -> str:
    """The result of ``run_grads`` as a plain-text table, geometric means last."""
    header = (
        *("identity", "n", "wrt shape", "closed ms", "jax.grad ms", "ratio", "runs", "rel diff"),
        *COMPILE_HEADER,
    )
    body = [
        (
            r["identity"],
            str(r["n"]),
            r["shapes"][r["wrt"]],
            f"{1e3 * r['closed_s']:.3f}",
            f"{1e3 * r['grad_s']:.3f}",
            f"{r['ratio']:.2f}",
            str(r.get("runs", result["n_runs"])),
            "grad=0!" if r.get("grad_all_zero") else f"{r['max_rel_diff']:.1e}",
            *compile_cells(r),
        )
        for r in result["rows"]
    ]
    out = [
        f"closed form vs jax.grad ({result['dtype']}, median of >= {result['n_runs']} alternating "
        f"runs after compilation, more until each side ran {result.get('min_time', 0)} s; "
        f"ratio = jax.grad / closed form, > 1: the closed form is faster; compiles: XLA "
        f"programs both sides compiled, compile s: their compile time)",
        *aligned_table(header, body),
    ]
    for n, g in result["geomean_by_size"].items():
        out.append(f"geometric mean ratio at n={n}: {g:.2f}")
    out.append(f"geometric mean ratio overall: {result['geomean']:.2f}")
    env = result.get("environment") or {}
    if env:
        out.append(
            f"({env.get('device')}, {env.get('cpu_count')} CPUs, {env.get('processor')}, "
            f"jax {env.get('jax')}, numpy {env.get('numpy')}, python {env.get('python')}, "
            f"{env.get('date')})"
        )
    return "\n".join(out)
