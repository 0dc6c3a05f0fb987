"""Derived gradients (``tracegrad.derive``) against ``jax.grad`` of the registry's objectives.

For every registry identity the derive language expresses (``Identity.expression``), at each
size ``n`` of the identity's sampler: derive the gradient at the sampled shapes (which checks
it against ``jax.grad`` in float64 first), then time, side by side in one process, the derived
function and ``jax.grad`` of the identity's own objective, both compiled ahead of time with
every operand a jit argument.  The two are timed in alternation, twice each, and the smaller
of the two medians kept for each (a shared machine slows either at random).  The ratio is
``jax.grad time / derived time``: above 1 the derived function is faster.
"""

from __future__ import annotations

import contextlib
import re
import time

import jax
import jax.numpy as jnp

from .._registry.registry import registry
from .._utils import shape_str
from ._compiles import count_compiles
from ._format import COMPILE_HEADER, aligned_table, compile_cells
from ._timing import compile_jitted, environment, time_interleaved
from .grads import geometric_mean


def run_derive(
    sizes=(256, 1024),
    dtype: str = "float32",
    n_runs: int = 10,
    only: str | None = None,
    min_time: float = 0.1,
) -> dict:
    """Time derived gradients against ``jax.grad`` for each expressible registry identity.

    Args:
        sizes: the samplers' characteristic sizes ``n``.
        dtype: floating dtype of the timed arrays.
        n_runs: timed runs per median.
        only: a regular expression selecting identity names.
        min_time: keep alternating (beyond ``n_runs``) until each side has run this long (s).

    Returns:
        ``{"environment", "dtype", "n_runs", "min_time", "rows": [...], "geomean": {n: ratio}}``;
        each row has ``name``, ``n``, ``expression``, ``shapes``, ``jax_grad_s``, ``derived_s``,
        ``ratio``, ``derive_s`` (deriving and checking, seconds) and ``gradient``.
    """
    EXPRESSIONS = {n: i.expression for n, i in registry().items() if i.expression}

    dtype_ = jnp.dtype(dtype)
    pattern = re.compile(only) if only else None
    reg = registry()
    names = [n for n in EXPRESSIONS if n in reg and (pattern is None or pattern.search(n))]
    x64 = jax.enable_x64(True) if dtype_ == jnp.float64 else contextlib.nullcontext()
    with x64:
        rows = _time_rows(names, reg, sizes, dtype_, n_runs, min_time)
    geomean = {n: geometric_mean([r["ratio"] for r in rows if r["n"] == n]) for n in sizes}
    return {
        "environment": environment(),
        "dtype": str(dtype_),
        "n_runs": n_runs,
        "min_time": min_time,
        "rows": rows,
        "geomean": geomean,
    }


def _time_rows(names, reg, sizes, dtype_, n_runs: int, min_time: float) -> list[dict]:
    from .._derive import Derivation, derive

    EXPRESSIONS = {n: i.expression for n, i in registry().items() if i.expression}

    rows = []
    for name in names:
        identity = reg[name]
        for n in sizes:
            args = identity.arguments(0, dtype_, n)
            shapes = {a: tuple(x.shape) for a, x in zip(identity.argnames, args, strict=True)}
            start = time.perf_counter()
            d = derive(EXPRESSIONS[name], wrt=identity.wrt_name, shapes=shapes)
            assert isinstance(d, Derivation)  # a scalar objective (not a Jacobian)
            derive_s = time.perf_counter() - start
            order = [identity.argnames.index(a) for a in d.argnames]
            function = d.function

            def derived(*xs, _order=order, _f=function):
                return _f(*(xs[i] for i in _order))

            reference = jax.grad(identity.objective, argnums=identity.wrt)
            with count_compiles() as compiles:  # the two timed programs, not derive's check
                compiled = {
                    "jax_grad": compile_jitted(reference, *args),
                    "derived": compile_jitted(derived, *args),
                }
            t_grad, t_derived = time_interleaved(
                [compiled["jax_grad"], compiled["derived"]], *args, n_runs=n_runs, min_time=min_time
            )
            best = {"jax_grad": t_grad.median, "derived": t_derived.median}
            rows.append(
                {
                    "name": name,
                    "n": n,
                    "expression": EXPRESSIONS[name],
                    "shapes": {a: shape_str(s) for a, s in shapes.items()},
                    "jax_grad_s": best["jax_grad"],
                    "derived_s": best["derived"],
                    "ratio": best["jax_grad"] / best["derived"],
                    "derive_s": derive_s,
                    "gradient": d.gradient,
                    **compiles.fields(),
                }
            )
    return rows


def format_derive(result: dict) -> str:
    """The result of ``run_derive`` as a text table with the geometric mean per size."""
    header = ("identity", "n", "jax.grad ms", "derived ms", "ratio", "derive+check s")
    header += COMPILE_HEADER
    lines = []
    for r in result["rows"]:
        lines.append(
            (
                r["name"],
                str(r["n"]),
                f"{1e3 * r['jax_grad_s']:.3f}",
                f"{1e3 * r['derived_s']:.3f}",
                f"{r['ratio']:.2f}",
                f"{r['derive_s']:.1f}",
                *compile_cells(r),
            )
        )
    out = [
        f"derived gradient vs jax.grad ({result['dtype']}, median of >= {result['n_runs']} "
        f"alternating runs, more until each side ran {result['min_time']} s; ratio = jax.grad "
        f"/ derived, > 1: the derived function is faster)",
        *aligned_table(header, lines),
    ]
    for n, g in result["geomean"].items():
        out.append(f"geometric mean ratio at n={n}: {g:.2f}")
    env = result.get("environment", {})
    if env:
        out.append(
            f"({env.get('device')}, {env.get('cpu_count')} CPUs, jax {env.get('jax')}, "
            f"{env.get('date')})"
        )
    return "\n".join(out)
