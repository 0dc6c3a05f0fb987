"""NMF benchmark: tracegrad's compiled MU loop against scikit-learn's MU solver, side by side.

Two workloads (sizes from the NMF issue, overridable through ``config``):

(a) ``single``: one 1024 x 1024 problem, rank 32, ``iters`` iterations, Frobenius and KL: seconds
    per iteration against ``sklearn.decomposition.NMF(solver="mu")``, and achieved FLOP/s as a
    fraction of a same-run jitted float32 matmul.
(b) ``batch``: 64 problems of 257 x 200 (an STFT-sized spectrogram set), rank 16: problem-
    iterations per second against a Python loop of scikit-learn fits, and the same fraction.

Both sides start from the same float32 ``W0, H0`` and run exactly ``iters`` iterations
(``tol=0``: scikit-learn then computes no loss at all, while tracegrad still records its loss
history every 10 iterations, and that work is counted).  Every tracegrad operand is a jit
argument, compilation is excluded, and all cases, the matmul peak included, are timed in
alternating rounds (``time_calls``) so that they see the same machine load; medians over
``n_runs`` rounds are reported.

FLOPs counted per iteration are the matrix products only (elementwise work is not counted, so
the fractions are lower bounds), for ``V: M x N``, rank ``K``::

    frobenius:  4MNK (V H^T, W^T V) + 4MK^2 (W (H H^T), W^T W) + 4NK^2 (H H^T, (W^T W) H)
    kl:         8MNK (W H twice, (V/WH) H^T, W^T (V/WH))
    both:       + 2MNK / 10 (the loss check every 10 iterations, computing W H)

scikit-learn computes with NumPy's BLAS, which reads ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``;
run with both unset for a fair comparison (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``);
the result records whether they were set and which BLAS kernel NumPy used.  scikit-learn is
timed twice, with NumPy's default BLAS threads and limited to one (threadpoolctl), and the
faster is the baseline of the speedups (both are recorded).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..nmf import fit
from ..nmf._constants import CHECK_EVERY
from ..nmf._contract import v_ht
from ..nmf._layout import workers
from ..nmf._losses import resolve_loss
from ..nmf._workers import cpu_workers
from ._compiles import Compiles, count_compiles
from ._config import merge_config
from ._format import COMPILE_HEADER, compile_cells, device_line, workload_labels
from ._timing import blas_info, compile_jitted, environment, time_calls

DEFAULT_CONFIG: dict = {
    "single": {"m": 1024, "n": 1024, "rank": 32},
    "batch": {"batch": 64, "m": 257, "n": 200, "rank": 16},
    "iters": 200,
    "losses": ["frobenius", "kl"],
    "n_runs": 3,
    "peak_n": 2048,
    "seed": 0,
    "sklearn": True,
}

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def mu_flops(m: int, n: int, k: int, loss: str) -> float:
    """Matmul FLOPs of one MU iteration plus its share of the every-10-iterations loss check."""
    check = 2.0 * m * n * k / CHECK_EVERY
    if resolve_loss(loss).beta == 2:
        return 4.0 * m * n * k + 4.0 * m * k * k + 4.0 * n * k * k + check
    return 8.0 * m * n * k + check


def openblas_vars_set() -> dict[str, str]:
    """The OpenBLAS tuning variables present in this process's environment."""
    return {v: os.environ[v] for v in OPENBLAS_VARS if v in os.environ}


def _merge(config: dict | None) -> dict:
    return merge_config(DEFAULT_CONFIG, config)


def _problem(seed: int, batch: int | None, m: int, n: int, k: int):
    """Uniform [0, 1) data and scikit-learn-scaled random factors, float32 NumPy."""
    rng = np.random.default_rng(seed)
    b = 1 if batch is None else batch
    V = rng.random((b, m, n), dtype=np.float32)
    avg = np.sqrt(V.mean(axis=(1, 2), keepdims=True) / k).astype(np.float32)
    W0 = avg * np.abs(rng.standard_normal((b, m, k), dtype=np.float32))
    H0 = avg * np.abs(rng.standard_normal((b, k, n), dtype=np.float32))
    if batch is None:
        V = V[0]
    return V, W0, H0


def _ours(V, W0, H0, loss: str, iters: int) -> Callable[[], object]:
    """A blocking callable running ``fit`` from ``W0, H0`` with ``tol=0``: its host checks
    and its one compiled program, split over ``_workers`` threads where ``_layout.workers``
    says so (compiled here, before any timing)."""
    V, W0, H0 = jnp.asarray(V), jnp.asarray(W0), jnp.asarray(H0)
    if V.ndim == 2 and W0.shape[0] == 1:  # one problem: unbatched factors, as a user passes
        W0, H0 = W0[0], H0[0]

    def run():
        r = fit(V, W0.shape[-1], W0=W0, H0=H0, loss=loss, max_iter=iters, tol=0.0)
        return jax.block_until_ready((r.W, r.H))

    run()
    return run


def _sklearn(V, W0, H0, loss: str, iters: int, threads: int | None) -> Callable[[], object]:
    """A callable fitting every problem with scikit-learn, one after another (a Python loop).

    ``threads``: limit NumPy's BLAS to that many threads (threadpoolctl), or None for its
    default.  On a loaded machine a multi-threaded BLAS can wait milliseconds per small call
    for a descheduled worker thread, so both settings are timed and the faster one is the
    baseline.
    """
    import contextlib

    from sklearn.decomposition import NMF as SkNMF
    from threadpoolctl import threadpool_limits

    Vs = [V] if V.ndim == 2 else list(V)
    k = W0.shape[-1]
    beta = resolve_loss(loss).beta

    def run():
        limit = contextlib.nullcontext() if threads is None else threadpool_limits(threads)
        with limit, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs to max_iter
            for v, w, h in zip(Vs, W0, H0, strict=True):
                model = SkNMF(
                    k,
                    init="custom",
                    solver="mu",
                    beta_loss=beta,  # pyright: ignore[reportArgumentType]  (a float beta is valid)
                    max_iter=iters,
                    tol=0.0,
                )
                model.fit_transform(v, W=w.copy(), H=h.copy())

    return run


def _gemm(V, W0, H0, reps: int) -> tuple[Callable[[], object], float]:
    """The dominant product ``V H^T`` alone at the workload's shape, ``reps`` times, and FLOPs.

    A reference for the fraction of the square-matmul peak that matrices this skinny (K
    columns) can reach at all; dispatched ``reps`` times back to back so that per-call
    overhead is amortised as it is inside the loop.
    """
    Vj, Hj = jnp.asarray(V), jnp.asarray(H0)
    compiled = compile_jitted(v_ht, Vj, Hj)
    m, n = V.shape[-2:]
    flops = 2.0 * W0.shape[0] * m * n * W0.shape[-1] * reps

    def run():
        out = None
        for _ in range(reps):
            out = compiled(Vj, Hj)
        return jax.block_until_ready(out)

    return run, flops


def run_nmf(config: dict | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Run both workloads for every loss; return figures, settings and the environment.

    Args:
        config: overrides of ``DEFAULT_CONFIG`` (e.g. ``{"iters": 50, "sklearn": False}``).
        progress: called with a short description of each stage.

    Returns:
        A JSON-ready dict: ``single`` and ``batch`` figures per loss, the matmul ``peak``,
        ``gemm`` reference rates, ``environment``, ``blas`` and ``openblas_vars``.
    """
    cfg = _merge(config)
    say = progress or (lambda msg: None)
    iters = int(cfg["iters"])
    n_peak = int(cfg["peak_n"])
    ka, kb = jax.random.split(jax.random.key(cfg["seed"]))
    A = jax.random.normal(ka, (n_peak, n_peak), jnp.float32)
    Bm = jax.random.normal(kb, (n_peak, n_peak), jnp.float32)
    matmul = compile_jitted(jnp.matmul, A, Bm)
    cases: dict[str, Callable[[], object]] = {"peak": lambda: jax.block_until_ready(matmul(A, Bm))}
    flops: dict[str, float] = {"peak": 2.0 * n_peak**3}
    meta: dict[str, dict] = {}
    cold: dict[str, Compiles] = {}

    for workload in ("single", "batch"):
        w = cfg[workload]
        batch = w.get("batch")
        V, W0, H0 = _problem(cfg["seed"], batch, w["m"], w["n"], w["rank"])
        b = 1 if batch is None else batch
        say(f"compiling the {workload} workload")
        gemm, gemm_flops = _gemm(V, W0, H0, reps=iters)
        cases[f"{workload}/gemm"] = gemm
        flops[f"{workload}/gemm"] = gemm_flops
        for loss in cfg["losses"]:
            name = f"{workload}/{loss}"
            with count_compiles() as cold[name]:  # compiles and runs it once
                cases[f"{name}/ours"] = _ours(V, W0, H0, loss, iters)
            flops[f"{name}/ours"] = b * iters * mu_flops(w["m"], w["n"], w["rank"], loss)
            if cfg["sklearn"]:
                cases[f"{name}/sklearn"] = _sklearn(V, W0, H0, loss, iters, None)
                cases[f"{name}/sklearn1"] = _sklearn(V, W0, H0, loss, iters, 1)
            meta[name] = {"problems": b, "iters": iters, **w}
            meta[name]["workers"] = workers(
                b, w["m"], w["n"], w["rank"], jax.default_backend(), cpu_workers()
            )

    say(f"timing {len(cases)} cases in {cfg['n_runs']} alternating rounds")
    timings = time_calls(cases, n_runs=int(cfg["n_runs"]), warmup=1)
    peak = flops["peak"] / timings["peak"].median

    result: dict = {
        "config": cfg,
        "peak": {
            "n": n_peak,
            "flops_per_s": peak,
            "median_s": timings["peak"].median,
            "runs": timings["peak"].runs,
        },
        "gemm": {},
        "single": {},
        "batch": {},
        "environment": environment(),
        "blas": blas_info(),
        "openblas_vars": openblas_vars_set(),
        "device_kind": jax.devices()[0].device_kind,
    }
    for workload in ("single", "batch"):
        g = timings[f"{workload}/gemm"]
        rate = flops[f"{workload}/gemm"] / g.median
        result["gemm"][workload] = {
            "flops_per_s": rate,
            "fraction_of_peak": rate / peak,
            "median_s": g.median,
        }
        for loss in cfg["losses"]:
            name = f"{workload}/{loss}"
            t = timings[f"{name}/ours"]
            m = meta[name]
            rate = flops[f"{name}/ours"] / t.median
            entry = {
                "ours_s": t.median,
                "ours_min_s": t.min,
                "runs": t.runs,
                "s_per_iter": t.median / iters,
                "problem_iters_per_s": m["problems"] * iters / t.median,
                "flops_per_iter": flops[f"{name}/ours"] / iters,
                "flops_per_s": rate,
                "fraction_of_peak": rate / peak,
                "fraction_of_gemm": rate / result["gemm"][workload]["flops_per_s"],
                "workers": m["workers"],
                **cold[name].fields(),
            }
            if cfg["sklearn"]:
                s_default = timings[f"{name}/sklearn"].median
                s_one = timings[f"{name}/sklearn1"].median
                best = min(s_default, s_one)
                entry.update(
                    sklearn_s=best,
                    sklearn_blas_threads="default" if best == s_default else 1,
                    sklearn_default_threads_s=s_default,
                    sklearn_one_thread_s=s_one,
                    sklearn_s_per_iter=best / iters,
                    sklearn_problem_iters_per_s=m["problems"] * iters / best,
                    speedup=best / t.median,
                )
            result[workload][loss] = entry
    return result


def format_nmf(result: dict) -> str:
    """The figures of ``run_nmf`` as a plain-text table with the measurement conditions."""
    cfg = result["config"]
    lines = [
        f"NMF benchmark, {cfg['iters']} MU iterations, float32, median of "
        f"{result['peak']['runs']} alternating rounds",
        device_line(result, numpy=True),
        f"matmul peak ({result['peak']['n']}^2 float32, jitted): "
        f"{result['peak']['flops_per_s'] / 1e9:.1f} GFLOP/s",
    ]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
        for b in result["blas"]
    )
    lines.append(f"scikit-learn BLAS: {blas or 'unknown'}")
    if result["openblas_vars"]:
        lines.append(f"WARNING: set during the run: {result['openblas_vars']}")
    else:
        lines.append("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: unset")
    header = f"{'workload':34s} {'loss':10s} {'tracegrad':>12s} {'sklearn':>12s} {'speedup':>8s} "
    header += f"{'GFLOP/s':>8s} {'of peak':>8s} {'of GEMM':>8s} "
    header += f"{COMPILE_HEADER[0]:>9s} {COMPILE_HEADER[1]:>9s}"
    lines += ["", header, "-" * len(header)]
    for workload, label in workload_labels(cfg):
        for loss, e in result[workload].items():
            mark = "" if e.get("sklearn_blas_threads", "default") == "default" else "*"
            if workload == "single":
                ours = f"{e['s_per_iter'] * 1e3:.3f} ms"
                theirs = f"{e['sklearn_s_per_iter'] * 1e3:.3f} ms{mark}" if "speedup" in e else "-"
            else:
                ours = f"{e['problem_iters_per_s']:.0f}"
                theirs = f"{e['sklearn_problem_iters_per_s']:.0f}{mark}" if "speedup" in e else "-"
            speed = f"{e['speedup']:.2f}x" if "speedup" in e else "-"
            lines.append(
                f"{label:34s} {loss:10s} {ours:>12s} {theirs:>12s} {speed:>8s} "
                f"{e['flops_per_s'] / 1e9:8.1f} {e['fraction_of_peak']:8.0%} "
                f"{e['fraction_of_gemm']:8.0%} "
                + " ".join(f"{cell:>9s}" for cell in compile_cells(e))
            )
        g = result["gemm"][workload]
        lines.append(
            f"{'  its V H^T product alone':34s} {'':10s} {'':>12s} {'':>12s} {'':>8s} "
            f"{g['flops_per_s'] / 1e9:8.1f} {g['fraction_of_peak']:8.0%}"
        )
    lines.append(
        "(a): time per iteration; (b): problem-iterations per second; compiles, compile s: "
        "tracegrad's XLA compilations on its first call and their time."
    )
    threads = {e.get("workers", 1) for wl in ("single", "batch") for e in result[wl].values()}
    if threads != {1}:
        lines.append(
            "tracegrad: (b) runs its loop in "
            + ", ".join(
                f"{e.get('workers', 1)} thread(s) for {loss}" for loss, e in result["batch"].items()
            )
            + " (nmf/_workers.py), as fit does."
        )
    lines.append(
        "sklearn: the faster of NumPy's default BLAS threads and one thread (* = one thread)."
    )
    return "\n".join(lines)
