"""Time to a target loss: the machinery shared by the ``nmf_solvers`` and ``nmf_structured``
suites.

One workload is a batch of problems ``V`` (``(B, M, N)``; or one ``(M, N)`` with ``B``
replicates of the initial factors) and float32 initial factors ``W0 (B, M, K)``, ``H0
(B, K, N)`` shared by both sides.  The target of each problem is the loss (square-root
beta-divergence, scikit-learn's ``reconstruction_err_``) scikit-learn's baseline reaches after
``base_iters`` iterations: ``NMF(solver="cd")`` for the Frobenius loss, ``NMF(solver="mu",
beta_loss=...)`` for any other.  Each of our solvers runs ``max_iters`` iterations in one
uninterrupted call, its loss curve read from the loop's own record (every 10 iterations); the
first recorded iteration at which every problem is at its target is its ``iters_to_target``
(a solver that carries state between iterations, ``"apg"``, would not continue its iterates
across separate calls, so nothing is run in pieces).  Then one call of that many iterations
is timed end to end (compile excluded).  scikit-learn's curves come from its own
``_fit_coordinate_descent`` / ``_fit_multiplicative_update`` in segments of ``segment``
iterations (the loss computed outside the timed part); its baseline time to target is a plain
``base_iters`` run of ``NMF`` per problem (a Python loop).  The baseline and each of our
solvers are timed in alternation (``time_calls``, medians of ``n_runs`` rounds), so their
ratios are side by side.  A problem "reaches" its target at a loss within ``REACH_RTOL`` of
it (float32 rounding of equal iterates).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ..nmf import fit
from ..nmf._constants import CHECK_EVERY
from ..nmf._losses import resolve_loss
from ._compiles import count_compiles
from ._timing import time_calls

REACH_RTOL = 1e-5
"""A loss within this relative distance above the target counts as reaching it."""


def conditions(cfg: dict) -> dict:
    """What a result was measured under: the settings, environment, BLAS, OpenBLAS variables,
    device and ``REACH_RTOL`` (the head of every time-to-target result)."""
    from ._timing import blas_info, environment
    from .nmf import openblas_vars_set

    return {
        "config": cfg,
        "environment": environment(),
        "blas": blas_info(),
        "openblas_vars": openblas_vars_set(),
        "device_kind": jax.devices()[0].device_kind,
        "reach_rtol": REACH_RTOL,
    }


def baseline_solver(loss: str) -> str:
    """scikit-learn's solver that sets the target: ``"cd"`` (Frobenius only) or ``"mu"``."""
    return "cd" if resolve_loss(loss).beta == 2 else "mu"


def ours(V, solver: str, loss: str = "frobenius") -> Callable[[int, jax.Array, jax.Array], tuple]:
    """``run(iters, W, H) -> (W, H, loss history, final loss)``: ``fit`` from ``(W, H)``
    (its one compiled program, worker threads included), no penalty, ``tol=0``."""
    Vj = jnp.asarray(V)

    def run(iters, W, H):
        r = fit(Vj, W.shape[-1], W0=W, H0=H, loss=loss, solver=solver, max_iter=iters, tol=0.0)
        jax.block_until_ready((r.W, r.H, r.loss_history, r.loss))
        return r.W, r.H, r.loss_history, r.loss

    return run


def curve_ours(run, W0, H0, targets, max_iters):
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


def sk_loss(V, W, H, beta: float = 2) -> float:
    """scikit-learn's square-root beta-divergence (``reconstruction_err_``)."""
    from sklearn.decomposition._nmf import _beta_divergence

    return float(_beta_divergence(V, W, H, beta, square_root=True))


def curve_sklearn(kind, Vs, W0s, H0s, segment, iters_cap, targets, beta: float = 2):
    """scikit-learn's ``cd`` or ``mu`` in segments over all problems (a Python loop)."""
    from sklearn.decomposition._nmf import _fit_coordinate_descent, _fit_multiplicative_update

    Ws = [w.copy() for w in W0s]
    Hs = [h.copy() for h in H0s]

    def losses_now():
        return np.array([sk_loss(v, w, h, beta) for v, w, h in zip(Vs, Ws, Hs, strict=True)])

    losses = [float(np.mean(losses_now()))]
    times, iters, total, it, reached_at = [0.0], [0], 0.0, 0, None
    while it < iters_cap:
        step = min(segment, iters_cap - it)
        t0 = time.perf_counter()
        for i, v in enumerate(Vs):
            if kind == "cd":
                Ws[i], Hs[i], _ = _fit_coordinate_descent(v, Ws[i], Hs[i], tol=0.0,
                                                          max_iter=step)  # fmt: skip
            else:
                Ws[i], Hs[i], _ = _fit_multiplicative_update(
                    v, Ws[i], Hs[i], beta,  # pyright: ignore[reportArgumentType]  (a float beta is valid)
                    max_iter=step, tol=0.0,
                )  # fmt: skip
        total += time.perf_counter() - t0
        it += step
        per = losses_now()
        times.append(total)
        losses.append(float(np.mean(per)))
        iters.append(it)
        if targets is not None and reached_at is None and np.all(per <= targets * (1 + REACH_RTOL)):
            reached_at = it
            break
    return times, losses, iters, reached_at, (Ws, Hs)


def sklearn_fits(kind, Vs, W0s, H0s, iters, beta: float = 2) -> Callable[[], None]:
    """A callable fitting every problem with ``NMF(solver=kind)`` for ``iters`` iterations."""
    from sklearn.decomposition import NMF as SkNMF

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs to max_iter
            for v, a, b in zip(Vs, W0s, H0s, strict=True):
                SkNMF(a.shape[-1], init="custom", solver=kind, beta_loss=beta,  # pyright: ignore[reportArgumentType]
                      max_iter=iters, tol=0.0).fit_transform(v, W=a.copy(), H=b.copy())  # fmt: skip

    return run


def time_to_target(
    V,
    W0,
    H0,
    *,
    loss: str,
    solvers: Sequence[str],
    base_iters: int,
    max_iters: int,
    segment: int,
    n_runs: int,
    mu_iters: int | None = None,
    say: Callable[[str], None] = lambda msg: None,
) -> dict:
    """One workload: scikit-learn's baseline sets the targets, each of ``solvers`` reaches them.

    Args:
        V: ``(B, M, N)`` problems, or ``(M, N)`` shared by the ``B`` replicates of ``W0``.
        W0, H0: float32 ``(B, M, K)``, ``(B, K, N)`` initial factors of both sides.
        loss: a name of ``nmf.LOSSES``; the baseline is ``baseline_solver(loss)``.
        solvers: our solvers (names of ``nmf.SOLVERS`` that minimise ``loss``).
        base_iters: scikit-learn's baseline iterations that set the targets.
        max_iters: cap on our iterations.
        segment: iterations per point of scikit-learn's curves.
        n_runs: alternating timing rounds (medians).
        mu_iters: with a ``"cd"`` baseline, also scikit-learn mu's curve up to this cap (a
            reference); None for none.
        say: progress messages.

    Returns:
        A JSON-ready dict: ``targets_mean``, ``problems``, ``sklearn`` (the baseline and the
        reference, with ``iters_to_target``, ``time_to_target_s``, ``s_per_iter`` and the
        curves ``times``, ``losses``, ``iters``) and ``ours`` per solver (the same, plus
        ``speedup_vs_<baseline>``, compiles, and per-iteration ratios).
    """
    beta = resolve_loss(loss).beta
    base = baseline_solver(loss)
    Vs = [V] * W0.shape[0] if V.ndim == 2 else list(V)
    say(f"scikit-learn {base}, {base_iters} iterations")
    b_t, b_l, b_i, _, (Wb, Hb) = curve_sklearn(
        base, Vs, list(W0), list(H0), segment, base_iters, None, beta
    )
    targets = np.array([sk_loss(v, a, b, beta) for v, a, b in zip(Vs, Wb, Hb, strict=True)])
    timed: dict[str, Callable[[], object]] = {
        "sklearn": sklearn_fits(base, Vs, list(W0), list(H0), base_iters, beta)
    }
    entry: dict = {
        "targets_mean": float(np.mean(targets)),
        "problems": len(Vs),
        "baseline": base,
        "sklearn": {
            base: {"iters_to_target": base_iters, "times": b_t, "losses": b_l, "iters": b_i}
        },
        "ours": {},
    }
    if mu_iters is not None and base == "cd":
        say(f"scikit-learn mu, up to {mu_iters} iterations")
        mu_t, mu_l, mu_i, mu_reach, _ = curve_sklearn(
            "mu", Vs, list(W0), list(H0), segment, mu_iters, targets, beta
        )
        entry["sklearn"]["mu"] = {
            "iters_to_target": mu_reach,
            "time_to_target_s": None if mu_reach is None else mu_t[mu_i.index(mu_reach)],
            "s_per_iter": mu_t[-1] / mu_i[-1],
            "times": mu_t,
            "losses": mu_l,
            "iters": mu_i,
        }
    for solver in solvers:
        say(solver)
        run = ours(V, solver, loss)
        # the cold phase: the curve's first call, then the timed n-iteration loop's
        with count_compiles() as compiles:
            losses, iters, reach = curve_ours(run, W0, H0, targets, max_iters)
            n_time = reach if reach is not None else iters[-1]
            Wj, Hj = jnp.asarray(W0), jnp.asarray(H0)
            run(n_time, Wj, Hj)  # compile the n-iteration loop
        losses[0] = b_l[0]  # same initial factors
        e: dict = {"iters_to_target": reach, "losses": losses, "iters": iters}
        e.update(compiles.fields())
        timed[solver] = lambda n=n_time, r=run, a=Wj, b=Hj: r(n, a, b)
        e["timed_iters"] = n_time
        entry["ours"][solver] = e
    say(f"timing {base} and every solver to the target, {n_runs} alternating rounds")
    timings = time_calls(timed, n_runs=n_runs, warmup=0)
    base_time = timings["sklearn"].median
    entry["sklearn"][base].update(time_to_target_s=base_time, s_per_iter=base_time / base_iters)
    for solver, e in entry["ours"].items():
        elapsed = timings[solver].median
        e["s_per_iter"] = elapsed / e["timed_iters"]
        e["times"] = [i * e["s_per_iter"] for i in e["iters"]]  # the timed run's pace
        e["time_to_target_s"] = elapsed if e["iters_to_target"] is not None else None
        if e["time_to_target_s"] is not None:
            e[f"speedup_vs_{base}"] = base_time / elapsed
            mu = entry["sklearn"].get("mu") if base == "cd" else None
            if mu is not None:
                mu_tt = mu["time_to_target_s"]
                e["speedup_vs_sklearn_mu"] = None if mu_tt is None else mu_tt / elapsed
                if mu_tt is None:  # mu missed the target in its whole curve: a lower bound
                    e["speedup_vs_sklearn_mu_at_least"] = mu["times"][-1] / elapsed
        per = "mu" if solver in ("mu", "amu") and "mu" in entry["sklearn"] else base
        per_iter = entry["sklearn"][per]["s_per_iter"] / e["s_per_iter"]
        e["per_iter_ratio_vs_sklearn_" + per] = per_iter
    return entry


def plot_curves(ax, entry: dict, title: str, ylabel: str) -> None:
    """Mean loss against time of every curve of a ``time_to_target`` entry, on ``ax``."""
    # the points after each segment (time 0, the shared start, has no place on a log axis)
    for name, r in entry["sklearn"].items():
        ax.plot(r["times"][1:], r["losses"][1:], "--", label=f"scikit-learn {name}")
    for name, r in entry["ours"].items():
        ax.plot(r["times"][1:], r["losses"][1:], "-", label=f"tracegrad {name}")
    base = entry.get("baseline", "cd")
    iters = entry["sklearn"][base]["iters_to_target"]
    ax.axhline(entry["targets_mean"], color="grey", lw=0.8, label=f"target ({base}, {iters} it.)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def save_figure(panels: Sequence[tuple[dict, str]], path: Path, ylabel: str) -> Path | None:
    """One PNG of side-by-side ``plot_curves`` panels ``(entry, title)``; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from .._utils import atomic_path

    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for ax, (entry, title) in zip(axes[0], panels, strict=True):
        plot_curves(ax, entry, title, ylabel)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
