"""Closed-form Hessian-vector products against ``jax.jvp(jax.grad)``, and dense Hessians.

For every registry identity with an ``hvp``: the closed form and forward-over-reverse on the
same sampled arguments and direction (operands as jit arguments, compile excluded, the two
timed in alternation, medians), after checking that they agree.  For the identities whose
differentiated argument is a vector, the dense Hessian at size ``dense_n``: the closed form
applied to the identity matrix's columns (``jax.vmap`` of the HVP) against ``jax.hessian``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._registry.registry import registry
from ._compiles import count_compiles
from ._timing import compile_jitted, environment, time_interleaved


def _grad_of(ident):
    def grad(*args):
        return jax.grad(ident.objective, argnums=ident.wrt)(*args)

    return grad


def _temp_bytes(compiled) -> float:
    try:
        return float(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - no analysis on this backend: do not guess, run it
        return 0.0


def run_hvp(
    n: int = 256,
    dense_n: int = 1000,
    dtype: str = "float32",
    n_runs: int = 10,
    dense_runs: int = 2,
    only: str | None = None,
    max_dense_bytes: float = 2 * 2**30,
):
    """Rows of timings; see the module docstring.  Returns ``{"rows", "dense", "environment"}``.

    ``dense_runs`` rounds for the dense Hessians, without warm-up (they are compiled ahead of
    time): ``jax.hessian`` of the Gaussian likelihood at size 1000 takes minutes per call.
    ``only``: a regular expression selecting identities by name.  A dense comparison whose
    compiled programs need more than ``max_dense_bytes`` of temporary memory (XLA's
    ``memory_analysis``) is skipped and recorded as such: ``jax.hessian`` of the Gaussian
    likelihood at size 1000 materialises one N x d tangent per basis vector (8 GB in float32).
    """
    import re

    pattern = re.compile(only) if only else None
    rows, dense = [], []
    for name, ident in sorted(registry().items()):
        if ident.hvp is None or (pattern is not None and not pattern.search(name)):
            continue
        args = ident.arguments(0, dtype, n)
        v = jnp.asarray(
            np.random.default_rng(0).standard_normal(args[ident.wrt].shape), args[ident.wrt].dtype
        )
        grad, w, hvp = _grad_of(ident), ident.wrt, ident.hvp

        def closed(*a, hvp=hvp):
            return hvp(*a)

        def autodiff(*a, grad=grad, w=w):
            *args_, v_ = a
            return jax.jvp(lambda x: grad(*args_[:w], x, *args_[w + 1 :]), (args_[w],), (v_,))[1]

        with count_compiles() as compiles:
            c1, c2 = compile_jitted(closed, *args, v), compile_jitted(autodiff, *args, v)
        got, want = np.asarray(c1(*args, v), np.float64), np.asarray(c2(*args, v), np.float64)
        err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))
        t_closed, t_auto = time_interleaved([c1, c2], *args, v, n_runs=n_runs, min_time=0.2)
        print(f"{name}: hvp ratio {t_auto.median / t_closed.median:.2f}", flush=True)
        rows.append(
            {
                "identity": name,
                "shape": list(args[w].shape),
                "closed_s": t_closed.median,
                "jvp_grad_s": t_auto.median,
                "ratio": t_auto.median / t_closed.median,
                "rel_err": err,
                "runs": t_closed.runs,
                **compiles.fields(),
            }
        )
        if args[w].ndim == 1:
            dargs = ident.arguments(0, dtype, dense_n)
            size = dargs[w].shape[0]

            def dense_closed(*a, hvp=hvp, size=size):
                eye = jnp.eye(size, dtype=a[0].dtype)
                return jax.vmap(lambda e: hvp(*a, e))(eye).T

            def dense_auto(*a, ident=ident, w=w):
                return jax.hessian(ident.objective, argnums=w)(*a)

            d1, d2 = compile_jitted(dense_closed, *dargs), compile_jitted(dense_auto, *dargs)
            need = max(_temp_bytes(d1), _temp_bytes(d2))
            if need > max_dense_bytes:
                print(f"{name}: dense skipped, needs {need / 2**30:.1f} GiB", flush=True)
                dense.append(
                    {"identity": name, "size": size, "skipped": f"needs {need / 2**30:.1f} GiB"}
                )
                continue
            got, want = np.asarray(d1(*dargs), np.float64), np.asarray(d2(*dargs), np.float64)
            err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))
            t1, t2 = time_interleaved([d1, d2], *dargs, n_runs=dense_runs, warmup=0)
            print(f"{name}: dense ratio {t2.median / t1.median:.2f}", flush=True)
            dense.append(
                {
                    "identity": name,
                    "size": size,
                    "closed_s": t1.median,
                    "jax_hessian_s": t2.median,
                    "ratio": t2.median / t1.median,
                    "rel_err": err,
                    "runs": t1.runs,
                }
            )
    gm = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows)) if rows else float("nan")
    return {"rows": rows, "dense": dense, "geomean_ratio": gm, "environment": environment()}
