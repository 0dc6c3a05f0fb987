"""Time to a good factorization: every NMF solver against scikit-learn's cd and mu.

The target of each problem is the Frobenius loss (``reconstruction_err_``) scikit-learn's
``NMF(solver="cd")`` reaches after ``cd_iters`` (200) iterations, from the same float32 data and
initial factors (``nmf._problem``).  Each of our solvers runs ``max_iters`` iterations in one
uninterrupted call, its loss curve read from the loop's own record (every 10 iterations); the
first recorded iteration at which every problem is at its target is its ``iters_to_target``
(a solver that carries state between iterations, ``"apg"``, would not continue its iterates
across separate calls, so nothing is run in pieces).  Then one call of that many iterations
is timed end to end (compile excluded, median of ``n_runs``).  scikit-learn's curves come
from its own ``_fit_coordinate_descent`` / ``_fit_multiplicative_update`` in segments of
``segment`` iterations (the loss computed outside the timed part); its cd time to target is a
plain ``cd_iters`` run.  The time-to-target runs (scikit-learn cd and each of our solvers) are timed
in alternation (``time_calls``, medians of ``n_runs`` rounds), so their ratios are side by side;
scikit-learn mu's time to target and per-iteration time come from its curve.  A problem
"reaches" its target at a loss within ``REACH_RTOL`` of it (float32 rounding of equal
iterates).

Figures are reported, never asserted; plots (``loss_vs_time``) draw each curve as the mean
loss over the problems against cumulative time (ours at the timed run's pace per iteration).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..nmf import SOLVERS, fit
from ..nmf._constants import CHECK_EVERY
from ._compiles import count_compiles
from ._format import COMPILE_HEADER, compile_cells
from ._timing import blas_info, environment, time_calls
from .nmf import _problem, openblas_vars_set

DEFAULT_CONFIG: dict = {
    "single": {"m": 1024, "n": 1024, "rank": 32},
    "batch": {"batch": 64, "m": 257, "n": 200, "rank": 16},
    "solvers": list(SOLVERS),
    "cd_iters": 200,
    "max_iters": 1000,
    "sklearn_mu_iters": 1000,
    "segment": 10,
    "n_runs": 3,
    "seed": 0,
    "sklearn": True,
}

REACH_RTOL = 1e-5
"""A loss within this relative distance above the target counts as reaching it."""


def _merge(config: dict | None) -> dict:
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (config or {}).items():
        if key not in cfg:
            raise KeyError(f"unknown benchmark setting {key!r} (known: {', '.join(cfg)})")
        if isinstance(cfg[key], dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    for s in cfg["solvers"]:
        if s not in SOLVERS:
            raise KeyError(f"unknown solver {s!r} (known: {', '.join(SOLVERS)})")
    return cfg


def _ours(V, W0, H0, solver) -> Callable[[int, jax.Array, jax.Array], tuple]:
    """``run(iters, W, H) -> (W, H, loss history, final loss)``: ``fit`` from ``(W, H)``
    (its one compiled program, worker threads included), Frobenius, no penalty, ``tol=0``."""
    Vj = jnp.asarray(V)

    def run(iters, W, H):
        r = fit(Vj, W.shape[-1], W0=W, H0=H, solver=solver, max_iter=iters, tol=0.0)
        jax.block_until_ready((r.W, r.H, r.loss_history, r.loss))
        return r.W, r.H, r.loss_history, r.loss

    return run


def _curve_ours(run, W0, H0, targets, max_iters):
    """One uninterrupted run of ``max_iters`` from ``(W0, H0)``: the mean loss every
    ``CHECK_EVERY`` iterations (the loop's own record) and the first recorded iteration at
    which every problem is at its target.  Uninterrupted, because a solver that carries state
    between iterations (``"apg"``'s extrapolation) does not continue its iterates across
    separate calls."""
    _, _, history, _ = run(max_iters, jnp.asarray(W0), jnp.asarray(H0))
    history = np.asarray(history, np.float64)[:, : max_iters // CHECK_EVERY + 1]
    iters = [i * CHECK_EVERY for i in range(history.shape[1])]
    at = np.all(history <= targets[:, None] * (1 + REACH_RTOL), axis=0)
    at[0] = False
    reached_at = iters[int(np.argmax(at))] if at.any() else None
    return [float(x) for x in history.mean(axis=0)], iters, reached_at


def _sk_loss(V, W, H) -> float:
    from sklearn.decomposition._nmf import _beta_divergence

    return float(_beta_divergence(V, W, H, 2, square_root=True))


def _curve_sklearn(kind, Vs, W0s, H0s, segment, iters_cap, targets):
    """scikit-learn's ``cd`` or ``mu`` in segments over all problems (a Python loop)."""
    from sklearn.decomposition._nmf import _fit_coordinate_descent, _fit_multiplicative_update

    Ws = [w.copy() for w in W0s]
    Hs = [h.copy() for h in H0s]
    losses = [float(np.mean([_sk_loss(v, w, h) for v, w, h in zip(Vs, Ws, Hs, strict=True)]))]
    times, iters, total, it, reached_at = [0.0], [0], 0.0, 0, None
    while it < iters_cap:
        t0 = time.perf_counter()
        for i, v in enumerate(Vs):
            if kind == "cd":
                Ws[i], Hs[i], _ = _fit_coordinate_descent(v, Ws[i], Hs[i], tol=0.0,
                                                          max_iter=segment)  # fmt: skip
            else:
                Ws[i], Hs[i], _ = _fit_multiplicative_update(v, Ws[i], Hs[i], "frobenius",
                                                             max_iter=segment, tol=0.0)  # fmt: skip
        total += time.perf_counter() - t0
        it += segment
        per = np.array([_sk_loss(v, w, h) for v, w, h in zip(Vs, Ws, Hs, strict=True)])
        times.append(total)
        losses.append(float(np.mean(per)))
        iters.append(it)
        if targets is not None and reached_at is None and np.all(per <= targets * (1 + REACH_RTOL)):
            reached_at = it
            break
    return times, losses, iters, reached_at, (Ws, Hs)


def run_nmf_solvers(
    config: dict | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Both workloads, every solver: time and iterations to scikit-learn cd's loss, curves.

    Returns:
        A JSON-ready dict: per workload the targets, ``sklearn`` (cd, mu) and ``ours`` (per
        solver) entries with ``iters_to_target``, ``time_to_target_s``, ``s_per_iter`` and the
        curves (``times``, ``losses``, ``iters``), ratios, and the environment.
    """
    from sklearn.decomposition import NMF as SkNMF

    cfg = _merge(config)
    say = progress or (lambda msg: None)
    seg, n_runs = int(cfg["segment"]), int(cfg["n_runs"])
    result: dict = {
        "config": cfg,
        "environment": environment(),
        "blas": blas_info(),
        "openblas_vars": openblas_vars_set(),
        "device_kind": jax.devices()[0].device_kind,
        "reach_rtol": REACH_RTOL,
    }
    for workload in ("single", "batch"):
        w = cfg[workload]
        batch = w.get("batch")
        V, W0, H0 = _problem(cfg["seed"], batch, w["m"], w["n"], w["rank"])
        Vs = [V] if V.ndim == 2 else list(V)
        k = w["rank"]
        say(f"{workload}: scikit-learn cd, {cfg['cd_iters']} iterations")
        cd_t, cd_l, cd_i, _, (Wc, Hc) = _curve_sklearn(
            "cd", Vs, list(W0), list(H0), seg, cfg["cd_iters"], None
        )
        targets = np.array([_sk_loss(v, a, b) for v, a, b in zip(Vs, Wc, Hc, strict=True)])

        def cd_run(Vs=Vs, W0=W0, H0=H0, k=k):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for v, a, b in zip(Vs, W0, H0, strict=True):
                    SkNMF(k, init="custom", solver="cd", max_iter=cfg["cd_iters"],
                          tol=0.0).fit_transform(v, W=a.copy(), H=b.copy())  # fmt: skip

        timed: dict[str, Callable[[], object]] = {"sk_cd": cd_run}
        entry: dict = {
            "targets_mean": float(np.mean(targets)),
            "problems": len(Vs),
            "sklearn": {
                "cd": {
                    "iters_to_target": cfg["cd_iters"],
                    "times": cd_t,
                    "losses": cd_l,
                    "iters": cd_i,
                }
            },
            "ours": {},
        }
        say(f"{workload}: scikit-learn mu, up to {cfg['sklearn_mu_iters']} iterations")
        mu_t, mu_l, mu_i, mu_reach, _ = _curve_sklearn(
            "mu", Vs, list(W0), list(H0), seg, cfg["sklearn_mu_iters"], targets
        )
        entry["sklearn"]["mu"] = {
            "iters_to_target": mu_reach,
            "time_to_target_s": None if mu_reach is None else mu_t[mu_i.index(mu_reach)],
            "s_per_iter": mu_t[-1] / mu_i[-1],
            "times": mu_t,
            "losses": mu_l,
            "iters": mu_i,
        }
        for solver in cfg["solvers"]:
            say(f"{workload}: {solver}")
            run = _ours(V, W0, H0, solver)
            # the cold phase: the curve's first call, then the timed n-iteration loop's
            with count_compiles() as compiles:
                losses, iters, reach = _curve_ours(run, W0, H0, targets, cfg["max_iters"])
                n_time = reach if reach is not None else iters[-1]
                Wj, Hj = jnp.asarray(W0), jnp.asarray(H0)
                run(n_time, Wj, Hj)  # compile the n-iteration loop
            losses[0] = entry["sklearn"]["cd"]["losses"][0]  # same initial factors
            e: dict = {"iters_to_target": reach, "losses": losses, "iters": iters}
            e.update(compiles.fields())
            timed[solver] = lambda n=n_time, r=run, a=Wj, b=Hj: r(n, a, b)
            e["timed_iters"] = n_time
            entry["ours"][solver] = e
        say(f"{workload}: timing cd and every solver to the target, {n_runs} alternating rounds")
        timings = time_calls(timed, n_runs=n_runs, warmup=0)
        cd_time = timings["sk_cd"].median
        cd = entry["sklearn"]["cd"]
        cd.update(time_to_target_s=cd_time, s_per_iter=cd_time / cfg["cd_iters"])
        for solver, e in entry["ours"].items():
            elapsed = timings[solver].median
            e["s_per_iter"] = elapsed / e["timed_iters"]
            e["times"] = [i * e["s_per_iter"] for i in e["iters"]]  # the timed run's pace
            e["time_to_target_s"] = elapsed if e["iters_to_target"] is not None else None
            if e["time_to_target_s"] is not None:
                e["speedup_vs_cd"] = cd_time / elapsed
                mu = entry["sklearn"]["mu"]
                mu_tt = mu["time_to_target_s"]
                e["speedup_vs_sklearn_mu"] = None if mu_tt is None else mu_tt / elapsed
                if mu_tt is None:  # mu missed the target in its whole curve: a lower bound
                    e["speedup_vs_sklearn_mu_at_least"] = mu["times"][-1] / elapsed
            base = "mu" if solver in ("mu", "amu") else "cd"
            e["per_iter_ratio_vs_sklearn_" + base] = (
                entry["sklearn"][base]["s_per_iter"] / e["s_per_iter"]
            )
        result[workload] = entry
    return result


def _vs_mu(r: dict) -> str:
    """The speed-up over scikit-learn mu; ``>N`` where mu missed the target in its curve."""
    if r.get("speedup_vs_sklearn_mu") is not None:
        return format(r["speedup_vs_sklearn_mu"], ".2f")
    if r.get("speedup_vs_sklearn_mu_at_least") is not None:
        return ">" + format(r["speedup_vs_sklearn_mu_at_least"], ".1f")
    return "-"


def format_nmf_solvers(result: dict) -> str:
    """The figures as a plain-text table with the measurement conditions."""
    cfg = result["config"]
    env = result["environment"]
    lines = [
        f"NMF solvers: time to scikit-learn cd's loss after {cfg['cd_iters']} iterations "
        f"(float32, same W0/H0, Frobenius), median of {cfg['n_runs']} runs",
        f"device: {env['device']} ({result['device_kind']}), {env['cpu_count']} CPUs, "
        f"jax {env['jax']}, scikit-learn {env.get('scikit-learn', '-')}",
        "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: "
        + (f"SET {result['openblas_vars']}" if result["openblas_vars"] else "unset"),
        "",
    ]
    s, b = cfg["single"], cfg["batch"]
    header = (
        f"{'workload':28s} {'solver':10s} {'iters':>6s} {'time (s)':>9s} {'vs cd':>7s} "
        f"{'vs sk mu':>8s} {'ms/iter':>8s} {'per-iter':>9s} "
        f"{COMPILE_HEADER[0]:>9s} {COMPILE_HEADER[1]:>9s}"
    )
    lines += [header, "-" * len(header)]
    for workload, label in (
        ("single", f"(a) {s['m']}x{s['n']} rank {s['rank']}"),
        ("batch", f"(b) {b['batch']} x {b['m']}x{b['n']} rank {b['rank']}"),
    ):
        if workload not in result:
            continue
        e = result[workload]

        def fmt(x, spec):
            return "-" if x is None else format(x, spec)

        for name, r in e["sklearn"].items():
            lines.append(
                f"{label:28s} {'sk ' + name:10s} {fmt(r['iters_to_target'], 'd'):>6s} "
                f"{fmt(r['time_to_target_s'], '.3f'):>9s} {'':>7s} {'':>8s} "
                f"{r['s_per_iter'] * 1e3:8.2f} {'':>9s}"
            )
        for name, r in e["ours"].items():
            ratio = next(v for k, v in r.items() if k.startswith("per_iter_ratio"))
            lines.append(
                f"{label:28s} {name:10s} {fmt(r['iters_to_target'], 'd'):>6s} "
                f"{fmt(r['time_to_target_s'], '.3f'):>9s} "
                f"{fmt(r.get('speedup_vs_cd'), '.2f'):>6s}x "
                f"{_vs_mu(r):>7s}x "
                f"{r['s_per_iter'] * 1e3:8.2f} {ratio:8.2f}x "
                + " ".join(f"{cell:>9s}" for cell in compile_cells(r))
            )
    lines.append(
        "iters: to reach every problem's target ('-': not within the cap); vs cd / vs sk mu: "
        "time-to-target speed-up ('>N': scikit-learn mu missed the target within its "
        "sklearn_mu_iters, so N is a lower bound); per-iter: scikit-learn's time per iteration "
        "over ours (mu, amu against sklearn mu; the others against cd); compiles, compile s: "
        "XLA compilations of the first call (max_iters) and of the timed one (iterations to "
        "target), and their time."
    )
    return "\n".join(lines)


def plot_loss_vs_time(result: dict, out_dir: str | Path) -> list[Path]:
    """One PNG per workload: mean loss against time for every curve (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from .._utils import atomic_path

    paths = []
    for workload in ("single", "batch"):
        if workload not in result:
            continue
        e = result[workload]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        # the points after each segment (time 0, the shared start, has no place on a log axis)
        for name, r in e["sklearn"].items():
            ax.plot(r["times"][1:], r["losses"][1:], "--", label=f"scikit-learn {name}")
        for name, r in e["ours"].items():
            ax.plot(r["times"][1:], r["losses"][1:], "-", label=f"tracegrad {name}")
        ax.axhline(e["targets_mean"], color="grey", lw=0.8, label="target (cd, 200 it.)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mean ||V - WH||_F")
        w = result["config"][workload]
        shape = f"{w['m']}x{w['n']} rank {w['rank']}"
        what = f"(a) {shape}" if workload == "single" else f"(b) {w['batch']} x {shape}"
        ax.set_title(f"NMF loss vs time, {what}, float32")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = Path(out_dir) / f"nmf_solvers_{workload}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
