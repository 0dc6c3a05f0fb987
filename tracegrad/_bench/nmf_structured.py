"""Time to a good factorization on structured data: every dataset of ``datasets.STRUCTURED``.

Uniform noise (``nmf_solvers``) flatters every solver; users factorise spectrograms, images,
text and mutation counts.  For each dataset and each loss its table entry names, and for
each workload:

- ``single``: the dataset's single problem (``Dataset.single``);
- ``batch``: ``batch`` problems, draws ``seed, seed + 1, ...`` of the generator at the
  ``Dataset.batch`` size (digits: row subsets; the image: crops), against a loop of
  scikit-learn fits;
- ``restarts``: ``restarts`` random initial factors of one such draw (tracegrad: one call,
  an unbatched ``V`` with a batch of ``W0``/``H0``), against a loop of scikit-learn fits;

time to target is measured as ``_to_target.time_to_target`` does (the target: scikit-learn's
loss after ``base_iters`` iterations of ``cd`` for Frobenius, of ``mu`` for KL and
Itakura-Saito; ours from the same float32 ``W0``/``H0``; compile excluded; medians).  Our
solvers are the names of ``nmf.SOLVERS`` (or ``solvers``) that minimise the loss, so a new
solver appears by itself.  The headline per loss and workload is, per solver, the geometric
mean and the worst of the ratios (scikit-learn's time / ours) over the structured datasets
(``uniform``, kept as one labelled row, is left out of it).  A dataset whose loader needs a
missing package (the image: pillow) is skipped with the reason.  Figures are reported, never
asserted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..datasets import STRUCTURED
from ..nmf import SOLVERS
from ..nmf._losses import resolve_loss
from ..nmf._solvers import check_solver
from ._config import check_names, merge_config
from ._format import COMPILE_HEADER, aligned_table, compile_cells, device_line, openblas_line
from ._to_target import conditions, save_figure, time_to_target

WORKLOADS = ("single", "batch", "restarts")

UNSTRUCTURED = ("uniform",)
"""Datasets reported as rows but left out of the headline (no structure)."""

DEFAULT_CONFIG: dict = {
    "datasets": list(STRUCTURED),
    "solvers": list(SOLVERS),
    "workloads": list(WORKLOADS),
    "batch": 64,
    "restarts": 32,
    "scale": 1.0,
    "base_iters": 200,
    "max_iters": 1000,
    "segment": 10,
    "n_runs": 3,
    "seed": 0,
}


def _merge(config: dict | None) -> dict:
    cfg = merge_config(DEFAULT_CONFIG, config)
    check_names(cfg, {"datasets": STRUCTURED, "solvers": SOLVERS, "workloads": WORKLOADS})
    return cfg


def solvers_for(loss: str, names) -> list[str]:
    """The solvers among ``names`` that minimise ``loss`` (``check_solver``)."""
    out = []
    for name in names:
        try:
            check_solver(SOLVERS[name], resolve_loss(loss), masked=False)
        except ValueError:
            continue
        out.append(name)
    return out


def _scaled(kwargs, sizes, scale: float) -> dict:
    """``kwargs`` with the size entries multiplied by ``scale`` (at least 1)."""

    def one(v):
        return max(1, round(v * scale))

    return {
        k: (tuple(one(x) for x in v) if isinstance(v, tuple) else one(v)) if k in sizes else v
        for k, v in kwargs.items()
    }


def _factors(seed: int, V: np.ndarray, count: int, k: int):
    """``count`` pairs of scikit-learn-scaled random float32 factors for ``V`` ``(..., M, N)``
    (one per problem of a batched ``V``): ``sqrt(mean V / k) |N(0, 1)|``."""
    rng = np.random.default_rng([seed, 1])
    m, n = V.shape[-2:]
    avg = np.sqrt(V.reshape(-1, m * n).mean(axis=1) / k).astype(np.float32)[:, None, None]
    W0 = avg * np.abs(rng.standard_normal((count, m, k), dtype=np.float32))
    H0 = avg * np.abs(rng.standard_normal((count, k, n), dtype=np.float32))
    return W0, H0


def problems(name: str, workload: str, cfg: dict):
    """``(V, W0, H0)`` of one workload of a dataset, or None where it has none (no
    ``Dataset.batch``)."""
    entry = STRUCTURED[name]
    seed, scale = cfg["seed"], cfg["scale"]
    if workload == "single":
        V = entry.make(**_scaled(entry.single, entry.sizes, scale), seed=seed)
        count = 1
    elif entry.batch is None:
        return None
    else:
        kwargs = _scaled(entry.batch, entry.sizes, scale)
        if workload == "batch":
            count = cfg["batch"]
            V = np.stack([entry.make(**kwargs, seed=seed + i) for i in range(count)])
        else:
            count = cfg["restarts"]
            V = entry.make(**kwargs, seed=seed)
    k = min(entry.rank, *V.shape[-2:])
    W0, H0 = _factors(seed, V, count, k)
    return V, W0, H0


def _shape(V, W0) -> str:
    m, n = V.shape[-2:]
    lead = f"{V.shape[0]} x " if V.ndim == 3 else ""
    return f"{lead}{m}x{n} rank {W0.shape[-1]}"


def run_nmf_structured(
    config: dict | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Every dataset, loss, workload and solver: time to scikit-learn's loss, and headlines.

    Returns:
        A JSON-ready dict: ``cases`` (one per dataset and loss: ``dataset``, ``loss``,
        ``description``, ``solvers``, per workload a ``time_to_target`` entry plus its
        ``shape``, or ``skipped`` with the reason), ``headline`` (per loss, workload and
        solver: ``geomean``, ``worst``, ``worst_dataset``, ``reached`` of ``datasets``), the
        configuration and the environment.
    """
    cfg = _merge(config)
    say = progress or (lambda msg: None)
    result: dict = {**conditions(cfg), "cases": []}
    for name in cfg["datasets"]:
        entry = STRUCTURED[name]
        for loss in entry.losses:
            case: dict = {
                "dataset": name,
                "loss": loss,
                "description": entry.description,
                "solvers": solvers_for(loss, cfg["solvers"]),
                "workloads": {},
            }
            result["cases"].append(case)
            for workload in cfg["workloads"]:
                try:
                    made = problems(name, workload, cfg)
                except ImportError as err:
                    case["skipped"] = str(err)
                    say(f"{name}: skipped ({err})")
                    break
                if made is None:
                    continue
                V, W0, H0 = made
                prefix = f"{name} {loss} {workload} {_shape(V, W0)}"
                e = time_to_target(
                    V, W0, H0, loss=loss, solvers=case["solvers"], base_iters=cfg["base_iters"],
                    max_iters=cfg["max_iters"], segment=cfg["segment"], n_runs=cfg["n_runs"],
                    say=lambda msg, p=prefix: say(f"{p}: {msg}"),
                )  # fmt: skip
                e["shape"] = _shape(V, W0)
                case["workloads"][workload] = e
    result["headline"] = headline(result)
    return result


def _ratio(entry: dict, solver: str) -> float | None:
    r = entry["ours"].get(solver)
    return None if r is None else r.get(f"speedup_vs_{entry['baseline']}")


def headline(result: dict) -> dict:
    """Per loss, workload and solver: geometric mean and worst ratio over the structured
    datasets (a solver that missed a target counts as the worst, ``worst`` None)."""
    out: dict = {}
    for case in result["cases"]:
        if case["dataset"] in UNSTRUCTURED:
            continue
        for workload, e in case["workloads"].items():
            for solver in e["ours"]:
                slot = out.setdefault(case["loss"], {}).setdefault(workload, {})
                slot.setdefault(solver, []).append((case["dataset"], _ratio(e, solver)))
    for by_workload in out.values():
        for by_solver in by_workload.values():
            for solver, pairs in by_solver.items():
                reached = [(d, r) for d, r in pairs if r is not None]
                missed = [d for d, r in pairs if r is None]
                worst = min(reached, key=lambda p: p[1]) if reached else None
                by_solver[solver] = {
                    "geomean": math.exp(np.mean([math.log(r) for _, r in reached]))
                    if reached else None,
                    "worst": None if missed or worst is None else worst[1],
                    "worst_dataset": missed[0] if missed else (worst and worst[0]),
                    "reached": len(reached),
                    "datasets": len(pairs),
                    "missed": missed,
                }  # fmt: skip
    return out


def _cell(x: float | None, spec: str = ".2f", suffix: str = "x") -> str:
    return "-" if x is None else format(x, spec) + suffix


def format_nmf_structured(result: dict) -> str:
    """Every time-to-target figure as a table, then the headline per loss."""
    cfg = result["config"]
    solvers = list(cfg["solvers"])
    lines = [
        f"NMF on structured data: time to scikit-learn's loss after {cfg['base_iters']} "
        f"iterations (cd for frobenius, mu otherwise), float32, same W0/H0, median of "
        f"{cfg['n_runs']} runs",
        device_line(result),
        openblas_line(result),
        "",
    ]
    header = ["dataset", "loss", "workload", "shape", "sk (s)", *solvers, *COMPILE_HEADER]
    rows = []
    skipped = []
    for case in result["cases"]:
        if "skipped" in case:
            skipped.append(f"{case['dataset']} ({case['loss']}): {case['skipped']}")
        for workload, e in case["workloads"].items():
            base = e["sklearn"][e["baseline"]]
            cells = []
            for s in solvers:
                r = e["ours"].get(s)
                if r is None:
                    cells.append("n/a")
                elif r["iters_to_target"] is None:
                    cells.append(f"miss/{r['timed_iters']}")
                else:
                    cells.append(f"{_ratio(e, s):.2f}x/{r['iters_to_target']}")
            compiles = {
                "compile_count": sum(r["compile_count"] for r in e["ours"].values()),
                "cache_hits": sum(r.get("cache_hits") or 0 for r in e["ours"].values()),
                "compile_s": sum(r["compile_s"] for r in e["ours"].values()),
            } if e["ours"] else {}  # fmt: skip
            rows.append([
                case["dataset"], case["loss"], workload, e["shape"],
                f"{base['time_to_target_s']:.3f} {e['baseline']}", *cells,
                *compile_cells(compiles),
            ])  # fmt: skip
    if rows:
        lines += aligned_table(header, rows)
    lines.append(
        "sk (s): scikit-learn's time for its target iterations (cd or mu); each solver: "
        "scikit-learn's time over ours (above 1x ours is faster) / our iterations to reach "
        "every problem's target ('miss/N': not within N; 'n/a': the solver does not minimise "
        "that loss); compiles, compile s: XLA compilations of our solvers' first calls."
    )
    lines += [f"skipped {s}" for s in skipped]
    lines += ["", "Headline: scikit-learn's time over ours across the structured datasets "
              "(uniform left out): geometric mean / worst (its dataset)"]  # fmt: skip
    rows = []
    for loss, by_workload in result["headline"].items():
        for workload, by_solver in by_workload.items():
            cells = []
            for s in solvers:
                h = by_solver.get(s)
                if h is None:
                    cells.append("n/a")
                    continue
                worst = "miss" if h["worst"] is None else f"{h['worst']:.2f}x"
                cells.append(f"{_cell(h['geomean'])} / {worst} ({h['worst_dataset']})")
            rows.append([loss, workload, *cells])
    if rows:
        lines += aligned_table(["loss", "workload", *solvers], rows)
    return "\n".join(lines)


def plot_loss_vs_time(result: dict, out_dir: str | Path) -> list[Path]:
    """One PNG per dataset and loss, a panel per workload (needs matplotlib)."""
    paths = []
    for case in result["cases"]:
        if not case["workloads"]:
            continue
        panels = [
            (e, f"{case['dataset']} ({case['loss']}), {workload}: {e['shape']}")
            for workload, e in case["workloads"].items()
        ]
        name = f"nmf_structured_{case['dataset']}_{case['loss']}.png"
        path = save_figure(panels, Path(out_dir) / name, "mean loss (sqrt(2 D))")
        if path is None:
            return []
        paths.append(path)
    return paths
