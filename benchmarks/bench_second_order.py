"""Derived second order (``derive(..., order=2)``) against jax's autodiff.

    python benchmarks/bench_second_order.py                       # HVPs at n=256, Hessians n=1000
    python benchmarks/bench_second_order.py --n 128 --dense-n 500 --runs 5 --out out/so.json

Two tables, each row checked before it is timed (the derivation checks itself against
``jax.jvp(jax.grad)`` and ``jax.hessian``):

* HVP: for every registry identity the derive language expresses, the derived ``H[dX]``
  against ``jax.jvp`` of ``jax.grad`` of the identity's own objective, at the identity's
  sampled arguments of size ``n`` (float64); ratio = jax time / derived time.
* dense Hessian of vector-variable objectives at ``n = dense-n``: the derived Hessian (a closed
  form where the engine finds one) against ``jax.hessian``.

Both sides are compiled ahead of time with every operand a jit argument and timed in
alternation (``time_calls``), medians; compile time excluded.
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np

from tracegrad._bench._format import aligned_table
from tracegrad._bench._timing import compile_jitted, environment, time_calls
from tracegrad._utils import write_json

DENSE = [
    # (name, expression, wrt, shapes as functions of n, positive names)
    ("quadratic form", "x' A x", "x", lambda n: {"A": (n, n)}, ()),
    ("Rayleigh quotient", "x' A x / (x' x)", "x", lambda n: {"A": (n, n)}, ()),
    ("least squares", "||A x - b||^2", "x", lambda n: {"A": (2 * n, n)}, ()),
    ("logistic loss", "sum(log(1 + exp(-y .* (X w))))", "w", lambda n: {"X": (2 * n, n)}, ()),
    ("softplus GLM", "sum(softplus(X w)) - y' X w", "w", lambda n: {"X": (2 * n, n)}, ()),
    ("log-sum-exp", "log(sum(exp(x)))", "x", lambda n: {"x": (n, 1)}, ()),
]


def _block(f):
    def run():
        jax.block_until_ready(f())

    return run


def _compare(derived, reference, args: tuple, runs: int) -> dict:
    """Both compiled with ``args`` as jit arguments, the derived side's error against the
    reference, then timed in alternation: ``jax_s``, ``derived_s``, ``ratio``, ``rel_err``."""
    ours, ref = compile_jitted(derived, *args), compile_jitted(reference, *args)
    err = float(jnp.max(jnp.abs(ours(*args) - ref(*args))))
    scale = float(jnp.max(jnp.abs(ref(*args))))
    t = time_calls(
        {"jax": _block(lambda: ref(*args)), "derived": _block(lambda: ours(*args))},
        n_runs=runs,
        min_time=0.05,
    )
    jax_s, derived_s = t["jax"].median, t["derived"].median
    return {
        "jax_s": jax_s,
        "derived_s": derived_s,
        "ratio": jax_s / derived_s,
        "rel_err": err / scale if scale else err,
    }


def hvp_rows(n: int, runs: int) -> list[dict]:
    from tracegrad._derive import Derivation, derive
    from tracegrad._registry.expressions import EXPRESSIONS
    from tracegrad._registry.registry import registry

    reg = registry()
    rows = []
    for name, expression in EXPRESSIONS.items():
        if name not in reg:
            continue
        identity = reg[name]
        args = identity.arguments(0, jnp.float64, n)
        shapes = {a: tuple(x.shape) for a, x in zip(identity.argnames, args, strict=True)}
        d = derive(expression, wrt=identity.wrt_name, shapes=shapes, order=2)
        assert isinstance(d, Derivation)
        second = d._second(d._default_spec)
        order = [identity.argnames.index(a) for a in d.argnames]
        i = identity.wrt
        v = jnp.asarray(np.random.default_rng(1).standard_normal(np.shape(args[i])))

        def derived(v, *xs, _order=order, _f=second.hvp_fn):
            return _f(*(xs[k] for k in _order), v)

        def reference(v, *xs, _i=i, _f=identity.objective):
            def g(w):
                return jax.grad(_f, argnums=_i)(*xs[:_i], w, *xs[_i + 1 :])

            return jax.jvp(g, (xs[_i],), (v,))[1]

        timing = _compare(derived, reference, (v, *args), runs)
        rows.append({"name": name, "expression": expression, **timing, "hvp": d.hvp_text})
        print(f"  hvp {name}: {rows[-1]['ratio']:.2f}x", flush=True)
    return rows


def dense_rows(n: int, runs: int) -> list[dict]:
    from tracegrad._derive import Derivation, derive

    rows = []
    for name, expression, wrt, shapes_of, _ in DENSE:
        d = derive(expression, wrt, shapes=shapes_of(n), order=2)
        assert isinstance(d, Derivation) and d.shapes is not None
        shapes = {a: (int(r), int(c)) for a, (r, c) in d.shapes.items()}
        second = d._second(d._default_spec)
        rng = np.random.default_rng(2)
        args = tuple(
            jnp.asarray(rng.standard_normal((r,) if c == 1 else (r, c)) * (0.1 if r > 1 else 1))
            for r, c in (shapes[a] for a in d.argnames)
        )
        i = d.argnames.index(wrt)
        objective = d.objective
        timing = _compare(second.hessian_fn, jax.hessian(objective, argnums=i), args, runs)
        rows.append(
            {"name": name, "expression": expression, "n": n, **timing,
             "closed_form": d.hessian_text}
        )  # fmt: skip
        print(f"  hessian {name}: {rows[-1]['ratio']:.2f}x", flush=True)
    return rows


def _geomean(xs) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="registry sampler size for HVPs")
    parser.add_argument("--dense-n", type=int, default=1000, help="vector size for Hessians")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default="out/bench_second_order.json")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    hvp = hvp_rows(args.n, args.runs)
    dense = dense_rows(args.dense_n, args.runs)
    header = ("identity", "jax.jvp(jax.grad) ms", "derived HVP ms", "ratio", "rel err")
    lines = [
        (r["name"], f"{1e3 * r['jax_s']:.3f}", f"{1e3 * r['derived_s']:.3f}",
         f"{r['ratio']:.2f}", f"{r['rel_err']:.1e}")
        for r in hvp
    ]  # fmt: skip
    print(f"HVP, float64, registry sampler n={args.n} (ratio = jax / derived)")
    print("\n".join(aligned_table(header, lines)))
    print(f"geometric mean ratio: {_geomean([r['ratio'] for r in hvp]):.2f}")
    header = ("objective", "n", "jax.hessian ms", "derived ms", "ratio", "closed form")
    lines = [
        (r["name"], str(r["n"]), f"{1e3 * r['jax_s']:.2f}", f"{1e3 * r['derived_s']:.2f}",
         f"{r['ratio']:.1f}", "yes" if r["closed_form"] else "assembled from HVPs")
        for r in dense
    ]  # fmt: skip
    print(f"dense Hessian, float64, n={args.dense_n}")
    print("\n".join(aligned_table(header, lines)))
    print(f"geometric mean ratio: {_geomean([r['ratio'] for r in dense]):.2f}")
    write_json(
        args.out,
        {"environment": environment(), "hvp": hvp, "dense": dense, "n": args.n,
         "dense_n": args.dense_n},
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
