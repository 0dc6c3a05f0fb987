"""How tracegrad.nmf's batched layout was chosen: candidate loops timed side by side.

    python benchmarks/nmf_layouts.py [--iters 50] [--runs 5]

Each candidate runs the same MU iterations (``tol=0``) from the same float32 factors, for the
two workloads of ``bench_nmf.py``; all candidates and a 2048^2 float32 matmul are timed in
alternating rounds, medians reported, with ms per iteration and the fraction of the matmul
peak (FLOPs as counted in ``tracegrad/_bench/nmf.py``).  Candidates:

* ``chosen``: what ``fit`` runs (``tracegrad/nmf/_layout.py``: a single problem keeps V^T;
  a Frobenius batch of this size runs in chunks of 4 problems; a KL batch all at once).
* ``no V^T``: the single problem without the transposed copy of V.
* ``whole``, ``whole + V^T``: the batch in one loop, without / with V^T.
* ``chunks/2``, ``chunks/4``, ``chunks/8``: ``lax.scan`` over chunks of that many problems,
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
from tracegrad.nmf._fit import _loop, fit_loop  # noqa: E402
from tracegrad.nmf._regularization import Penalty  # noqa: E402

YNN = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def candidates(V, W, H, loss, iters, batched):
    z = jnp.zeros((), jnp.float32)
    pen = Penalty(z, z, z, z)
    token = jnp.zeros((), jnp.int32)

    def chosen(V, W, H):
        return _loop(V, None, W, H, pen, z, token, loss=loss, max_iter=iters,
                     with_progress=False)  # fmt: skip

    def loop(transposed):
        return lambda V, W, H: fit_loop(V, W, H, pen, z, loss=loss, max_iter=iters,
                                        transposed=transposed)  # fmt: skip

    def chunks(c):
        def run(V, W, H):
            r = lambda x: x.reshape((x.shape[0] // c, c) + x.shape[1:])  # noqa: E731
            res = jax.lax.map(lambda a: loop(False)(*a), (r(V), r(W), r(H)))
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
    out["vmap"] = (jax.vmap(lambda v, w, h: single(v, w[None], h[None])), None)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        args_ = (jnp.asarray(V), jnp.asarray(W0), jnp.asarray(H0))
        for loss in ("frobenius", "kl"):
            for name, (fn, opts) in candidates(*args_, loss, args.iters, batch is not None).items():
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
