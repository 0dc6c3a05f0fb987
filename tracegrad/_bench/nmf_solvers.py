"""Time to a good factorization: every NMF solver against scikit-learn's cd and mu.

The target of each problem is the Frobenius loss (``reconstruction_err_``) scikit-learn's
``NMF(solver="cd")`` reaches after ``cd_iters`` (200) iterations, from the same float32 uniform
random data and initial factors (``nmf._problem``); how the curves, targets and times to
target are measured is ``_to_target.time_to_target``'s (shared with ``nmf_structured``, the
same measurement on structured data).  scikit-learn mu's curve, up to ``sklearn_mu_iters``, is
a reference: its time to target and per-iteration time come from its curve.

Figures are reported, never asserted; plots (``loss_vs_time``) draw each curve as the mean
loss over the problems against cumulative time (ours at the timed run's pace per iteration).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..nmf import SOLVERS
from ._config import check_names, merge_config
from ._format import COMPILE_HEADER, compile_cells, device_line, openblas_line, workload_labels
from ._to_target import conditions, save_figure, time_to_target
from .nmf import _problem

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


def _merge(config: dict | None) -> dict:
    cfg = merge_config(DEFAULT_CONFIG, config, strict_nested=False)
    check_names(cfg, {"solvers": SOLVERS})
    return cfg


def run_nmf_solvers(
    config: dict | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Both workloads, every solver: time and iterations to scikit-learn cd's loss, curves.

    Returns:
        A JSON-ready dict: per workload the targets, ``sklearn`` (cd, mu) and ``ours`` (per
        solver) entries with ``iters_to_target``, ``time_to_target_s``, ``s_per_iter`` and the
        curves (``times``, ``losses``, ``iters``), ratios, and the environment.
    """
    cfg = _merge(config)
    say = progress or (lambda msg: None)
    seg, n_runs = int(cfg["segment"]), int(cfg["n_runs"])
    result: dict = conditions(cfg)
    for workload in ("single", "batch"):
        w = cfg[workload]
        batch = w.get("batch")
        V, W0, H0 = _problem(cfg["seed"], batch, w["m"], w["n"], w["rank"])
        result[workload] = time_to_target(
            V, W0, H0, loss="frobenius", solvers=cfg["solvers"], base_iters=cfg["cd_iters"],
            max_iters=cfg["max_iters"], segment=seg, n_runs=n_runs,
            mu_iters=cfg["sklearn_mu_iters"], say=lambda msg, w=workload: say(f"{w}: {msg}"),
        )  # fmt: skip
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
    lines = [
        f"NMF solvers: time to scikit-learn cd's loss after {cfg['cd_iters']} iterations "
        f"(float32, same W0/H0, Frobenius), median of {cfg['n_runs']} runs",
        device_line(result),
        openblas_line(result),
        "",
    ]
    header = (
        f"{'workload':28s} {'solver':10s} {'iters':>6s} {'time (s)':>9s} {'vs cd':>7s} "
        f"{'vs sk mu':>8s} {'ms/iter':>8s} {'per-iter':>9s} "
        f"{COMPILE_HEADER[0]:>9s} {COMPILE_HEADER[1]:>9s}"
    )
    lines += [header, "-" * len(header)]
    for workload, label in workload_labels(cfg):
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
    paths = []
    for workload in ("single", "batch"):
        if workload not in result:
            continue
        w = result["config"][workload]
        shape = f"{w['m']}x{w['n']} rank {w['rank']}"
        what = f"(a) {shape}" if workload == "single" else f"(b) {w['batch']} x {shape}"
        path = save_figure(
            [(result[workload], f"NMF loss vs time, {what}, float32")],
            Path(out_dir) / f"nmf_solvers_{workload}.png",
            "mean ||V - WH||_F",
        )
        if path is None:
            return []
        paths.append(path)
    return paths
