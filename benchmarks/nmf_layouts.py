"""How tracegrad.nmf's batched layout was chosen: candidate loops timed side by side.

    python benchmarks/nmf_layouts.py [--iters 50] [--runs 5]

Each candidate runs the same MU iterations (``tol=0``) from the same float32 factors, for the
two workloads of ``bench_nmf.py``; all candidates and a 2048^2 float32 matmul are timed in
alternating rounds, medians reported, with ms per iteration and the fraction of the matmul
peak (FLOPs as counted in ``tracegrad/_bench/nmf.py``).  Every candidate is the bare loop
(``tracegrad/nmf/_loop.py``'s ``fit_loop``, laid out as named) compiled ahead of time with all
its operands -- ``V``, ``W``, ``H``, the penalty weights, ``tol`` and ``max_iter`` -- as jit
arguments, as ``fit``'s program passes them (a constant ``tol = 0`` or zero penalty would let
XLA fold work away); compilation is excluded.  Candidates:

* ``chosen``: the loop of ``fit``'s compiled program (``tracegrad/nmf/_execute.py``'s
  ``_loop``, laid out by ``tracegrad/nmf/_layout.py``: a single problem keeps V^T; a Frobenius
  batch of this size runs in chunks of 4 problems; a KL batch all at once).  Not timed here:
  the rest of ``fit`` -- its host checks, the program's prelude (initial factors, rescaling)
  and, on a multi-core CPU, the split of a batch over worker threads (``_workers``); the
  end-to-end figures are ``bench_nmf.py``'s.
* ``no V^T``: the single problem without the transposed copy of V.
* ``whole``, ``whole + V^T``: the batch in one loop, without / with V^T.
* ``chunks/2``, ``chunks/4``, ``chunks/8``: ``lax.map`` over chunks of that many problems,
  each chunk its own loop, so its data stays in cache across iterations.
* ``vmap``: ``jax.vmap`` of the single-problem loop over the batch.
* ``chosen +ynn``: ``chosen`` compiled with XLA's experimental YNNPACK dot-fusion option
  (``xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT``), CPU only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from tracegrad._bench._timing import time_calls  # noqa: E402
from tracegrad._bench.nmf import DEFAULT_CONFIG, _problem, mu_flops  # noqa: E402
from tracegrad.nmf._execute import Plan, _loop  # noqa: E402
from tracegrad.nmf._loop import fit_loop  # noqa: E402
from tracegrad.nmf._losses import resolve_loss  # noqa: E402
from tracegrad.nmf._regularization import Penalty  # noqa: E402
from tracegrad.nmf._solvers import resolve_solver  # noqa: E402

YNN = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def loop_plan(loss: str, V, W) -> Plan:
    """The ``Plan`` of ``fit(V, K, W0=..., H0=..., loss=loss, tol=0)`` (MU, no progress,
    one worker group); ``_loop`` reads its loss, solver, updated factors and progress."""
    batch = (W.shape[0],) if V.ndim == 3 else ()
    return Plan(
        dtype="float32", rank=W.shape[-1], init="random", loss=resolve_loss(loss),
        solver=resolve_solver("mu"), update_W=True, update_H=True, custom=True,
        start_W=False, start_H=False, batch=batch, v_batched=V.ndim == 3, key_kind="none",
        key_batched=False, group=W.shape[0], with_progress=False, traced=False,
    )  # fmt: skip


def candidates(V, W, loss, batched):
    """``{name: (fn(V, W, H, pen, tol, max_iter), compiler options)}``."""
    plan = loop_plan(loss, V, W)
    token = jnp.zeros((), jnp.int32)  # unused without progress (jit drops it)

    def chosen(V, W, H, pen, tol, max_iter):
        return _loop(V, None, W, H, pen, tol, max_iter, token, plan)

    def loop(transposed):
        def run(V, W, H, pen, tol, max_iter):
            return fit_loop(V, W, H, pen, tol, max_iter, loss=loss, transposed=transposed)

        return run

    def chunks(c):
        def run(V, W, H, pen, tol, max_iter):
            r = lambda x: x.reshape((x.shape[0] // c, c) + x.shape[1:])  # noqa: E731
            one = loop(False)

            def part(a):
                return one(a[0], a[1], a[2], pen, tol, max_iter)

            res = jax.lax.map(part, (r(V), r(W), r(H)))
            return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), res)

        return run

    out = {"chosen": (chosen, None), "chosen +ynn": (chosen, YNN)}
    if not batched:
        out["no V^T"] = (loop(False), None)
        return out
    out["whole"] = (loop(False), None)
    out["whole + V^T"] = (loop(True), None)
    for c in (2, 4, 8):
        out[f"chunks/{c}"] = (chunks(c), None)
    single = loop(False)
    out["vmap"] = (
        jax.vmap(
            lambda v, w, h, pen, tol, it: single(v, w[None], h[None], pen, tol, it),
            in_axes=(0, 0, 0, None, None, None),
        ),
        None,
    )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    n = DEFAULT_CONFIG["peak_n"]
    A = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul).lower(A, A).compile()
    cases = {"peak": lambda: jax.block_until_ready(mm(A, A))}
    flops = {}
    for workload in ("single", "batch"):
        w = DEFAULT_CONFIG[workload]
        batch = w.get("batch")
        V, W0, H0 = _problem(0, batch, w["m"], w["n"], w["rank"])
        z = jnp.zeros((), jnp.float32)
        args_ = (jnp.asarray(V), jnp.asarray(W0), jnp.asarray(H0), Penalty(z, z, z, z), z,
                 jnp.asarray(args.iters, jnp.int32))  # fmt: skip
        for loss in ("frobenius", "kl"):
            for name, (fn, opts) in candidates(args_[0], args_[1], loss, batch is not None).items():
                c = jax.jit(fn, compiler_options=opts).lower(*args_).compile()
                key = f"{workload:6s} {loss:9s} {name}"
                cases[key] = lambda c=c, a=args_: jax.block_until_ready(c(*a))
                b = batch or 1
                flops[key] = b * args.iters * mu_flops(w["m"], w["n"], w["rank"], loss)
    t = time_calls(cases, n_runs=args.runs)
    peak = 2.0 * n**3 / t["peak"].median
    print(f"matmul peak {peak / 1e9:.1f} GFLOP/s (median of {args.runs} alternating rounds)")
    for key, fl in flops.items():
        print(f"{key:34s} {t[key].median / args.iters * 1e3:8.3f} ms/iter "
              f"{fl / t[key].median / peak:6.0%} of peak")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
