"""Benchmark tracegrad.nmf.select_rank against the same fits as a loop of scikit-learn NMF.

The issue-15 workload: 7 ranks (2..8) x 20 restarts x 300 KL iterations (tol = 0, so every fit
runs all 300) on a 96 x 300 mutational-catalogue-like count matrix, float32.  tracegrad runs
all 140 fits as one compiled call (``holdout=0``: no held-out fits, which scikit-learn would
not do either) and is timed end to end in a fresh process's first call, compile and the
host-side stability measures included; then warm.  scikit-learn runs
``NMF(solver="mu", beta_loss="kullback-leibler", init="random")`` once per rank and restart.

Run with NumPy's OpenBLAS tuning variables unset, for the scikit-learn side:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_select_rank.py

Prints a table and writes JSON (default benchmarks/results/bench_select_rank.json).  Timings
are medians over ``--runs`` rounds (alternating tracegrad warm / scikit-learn); the cold figure
is one measurement by nature.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

from tracegrad import nmf  # noqa: E402
from tracegrad._utils import write_json  # noqa: E402
from tracegrad.datasets import mutation_counts  # noqa: E402


def run_tracegrad(V, ranks, restarts, iters):
    t, c = time.perf_counter(), time.process_time()
    sel = nmf.select_rank(
        V, ranks, restarts=restarts, loss="kl", max_iter=iters, tol=0.0, holdout=0.0, key=0
    )
    return (time.perf_counter() - t, time.process_time() - c), sel


def run_sklearn(V, ranks, restarts, iters):
    from sklearn.decomposition import NMF

    best = []
    t, c = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol = 0 never converges
        for k in ranks:
            errs = []
            for r in range(restarts):
                model = NMF(
                    k,
                    solver="mu",
                    beta_loss="kullback-leibler",
                    init="random",
                    max_iter=iters,
                    tol=0.0,
                    random_state=r,
                )
                model.fit_transform(V)
                errs.append(model.reconstruction_err_)
            best.append(min(errs))
    return (time.perf_counter() - t, time.process_time() - c), np.asarray(best)


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    a = np.asarray(pairs)
    return float(np.median(a[:, 0])), float(np.median(a[:, 1]))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", default="2:8", help="LO:HI inclusive (default 2:8)")
    p.add_argument("--restarts", type=int, default=20)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--m", type=int, default=96)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--runs", type=int, default=3, help="warm rounds (default 3)")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "bench_select_rank.json")
    )
    args = p.parse_args(argv)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"WARNING: {var} set; rerun under env -u {var}", file=sys.stderr)
    lo, hi = (int(x) for x in args.ranks.split(":"))
    ranks = list(range(lo, hi + 1))
    V = mutation_counts(args.n, args.m, 4, seed=0)
    n_fits = len(ranks) * args.restarts

    cold, sel = run_tracegrad(V, ranks, args.restarts, args.iters)
    assert np.all(sel.n_iter == args.iters), "tol = 0: every fit runs all iterations"
    warm, sk = [], []
    sk_best = None
    for _ in range(args.runs):
        warm.append(run_tracegrad(V, ranks, args.restarts, args.iters)[0])
        if not args.no_sklearn:
            t, sk_best = run_sklearn(V, ranks, args.restarts, args.iters)
            sk.append(t)
    # medians of wall and of CPU seconds (all threads): the CPU figure is the steadier one on a
    # shared machine, where a process may wait for a core
    rows = [("tracegrad select_rank, first call (compile incl.)", cold)]
    rows.append((f"tracegrad select_rank, warm (median of {len(warm)})", _median(warm)))
    if sk:
        rows.append((f"scikit-learn NMF loop, {n_fits} fits (median of {len(sk)})", _median(sk)))
    result = {
        "workload": {
            "ranks": ranks,
            "restarts": args.restarts,
            "iters": args.iters,
            "shape": [args.m, args.n],
            "loss": "kl",
            "dtype": "float32",
            "fits": n_fits,
        },
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_average": os.getloadavg(),
            "backend": jax.default_backend(),
            "devices": str(jax.devices()),
        },
        "rows": {name: {"wall_s": w, "cpu_s": c} for name, (w, c) in rows},
        "best_rank": sel.best_rank,
        "tracegrad_best_error": sel.reconstruction_error.tolist(),
    }
    print(
        f"{len(ranks)} ranks x {args.restarts} restarts x {args.iters} KL iterations on "
        f"{args.m} x {args.n}, float32; {cpu_model()}, JAX backend {jax.default_backend()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"  {'':{width}}  {'wall s':>8}  {'CPU s':>8}")
    for name, (w, c) in rows:
        print(f"  {name.ljust(width)}  {w:8.2f}  {c:8.2f}")
    if sk:
        sk_t = _median(sk)
        for label, (w, c) in (("cold", cold), ("warm", _median(warm))):
            result[f"speedup_{label}"] = {"wall": sk_t[0] / w, "cpu": sk_t[1] / c}
            print(f"  speed-up vs scikit-learn, {label}: {sk_t[0] / w:.1f}x wall, "
                  f"{sk_t[1] / c:.1f}x CPU")  # fmt: skip
        result["sklearn_best_error"] = np.asarray(sk_best).tolist()
        print("  best error per rank (tracegrad / scikit-learn):")
        for k, a, b in zip(ranks, sel.reconstruction_error, np.asarray(sk_best), strict=True):
            print(f"    K={k}: {a:.4g} / {b:.4g}")
    write_json(args.output, result)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
