"""Cold starts: the first call in a fresh process, with an empty and a filled compilation cache.

What a user feels first is not the warm per-iteration time the other suites report but the
first call of a new process: tracing, XLA compilation, then the work.  Every measurement here
is one fresh Python process (``subprocess`` with ``sys.executable`` running
``_cold_child``): imports and the JAX backend's start-up are done before the clock starts;
the clock runs from just before the first call to its result in hand, and the XLA
compilations inside are counted (``jax.monitoring``, ``_compiles``).  Each tracegrad case
runs twice in a row on a fresh temporary directory as JAX's persistent compilation cache:
first empty (everything compiles and is written), then filled by that first process.

Cases:

- **NMF time to target**: data with structure, a deterministic low-rank matrix plus noise
  (``low_rank``: ``M x N``, rank ``K``, float32).  The target is the Frobenius loss
  (``reconstruction_err_``) scikit-learn's ``NMF(solver="cd", init="random",
  random_state=seed, max_iter=cd_iters, tol=0)`` reaches, measured in its own fresh process,
  whose wall time (imports excluded) is the baseline.  For each tracegrad solver (names from
  ``nmf.SOLVERS``), the iteration count that reaches the target is found first in this (warm)
  process: one ``fit`` of ``max_iters`` iterations (``tol=0``, ``init="random"``,
  ``key=seed``) and the first iteration of its loss history (every 10) within ``REACH_RTOL``
  of the target.  The fresh processes then run ``fit`` with exactly that ``max_iter``, so
  their wall time is time to target end to end, and their final loss is checked against the
  target (``reached``).  A solver that misses it within ``max_iters`` runs ``max_iters``
  (``reached`` false, time a lower bound).  tracegrad's initial factors are its own random
  ones (``key=seed``), scikit-learn's its own (``random_state=seed``): each side as a user
  calls it.
- **select_rank**: ``nmf.select_rank`` (KL, ``tol=0``, ``holdout=0``) on a Poisson count
  catalogue (``catalogue``) against the same fits as a loop of scikit-learn ``NMF(solver="mu",
  beta_loss="kullback-leibler")`` in a fresh process.
- **demo**: ``tracegrad demo`` (the CLI, in the fresh process) empty and filled; its wall
  time is the whole process's (imports included), as the user waits for it.

The scikit-learn processes run with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed
from their environment (only theirs): those variables slow NumPy's OpenBLAS.  Figures are
medians over ``n_runs`` rounds (each round: every case once, fresh cache directories);
reported, never asserted.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import datasets
from ._config import check_names, merge_config
from ._format import COMPILE_HEADER, aligned_table, compile_cells
from ._timing import environment
from .nmf import OPENBLAS_VARS, openblas_vars_set

DEFAULT_CONFIG: dict = {
    "m": 1024,
    "n": 1024,
    "rank": 32,
    "noise": 0.1,
    "zeros": 0.5,
    "solvers": None,  # None: every name of nmf.SOLVERS
    "cd_iters": 200,
    "max_iters": 1000,
    "select_rank": True,
    "select_m": 96,
    "select_n": 300,
    "select_true_rank": 4,
    "select_ranks": [2, 3, 4, 5, 6, 7, 8],
    "select_restarts": 20,
    "select_iters": 300,
    "demo": True,
    "demo_args": ["demo", "--quiet"],
    "n_runs": 1,
    "seed": 0,
    "timeout": 1800.0,
}

REACH_RTOL = 1e-5
"""A loss within this relative distance above the target counts as reaching it."""


def low_rank(seed: int, m: int, n: int, k: int, zeros: float = 0.5, noise: float = 0.1):
    """``W H + E``, float32 (``datasets.low_rank``): sparse non-negative factors and
    non-negative noise with ``||E||_F = noise ||W H||_F``."""
    snr = math.inf if noise == 0 else -20.0 * math.log10(noise)
    return datasets.low_rank(m, n, k, snr=snr, zeros=zeros, seed=seed)


def catalogue(seed: int, m: int, n: int, k: int) -> np.ndarray:
    """Counts from ``k`` Dirichlet signatures, gamma exposures, Poisson noise (float32;
    ``datasets.mutation_counts``)."""
    return datasets.mutation_counts(n, m, k, seed=seed)


def _merge(config: dict | None) -> dict:
    cfg = merge_config(DEFAULT_CONFIG, config)
    from ..nmf import SOLVERS

    if cfg["solvers"] is None:
        cfg["solvers"] = list(SOLVERS)
    check_names(cfg, {"solvers": SOLVERS})
    return cfg


def cpu_model() -> str:
    """The CPU's model name (``lscpu``, else ``/proc/cpuinfo``), or the platform's word."""
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, env={**os.environ, "LC_ALL": "C"}
        ).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _child(task: dict, workdir: Path, timeout: float, sklearn: bool = False) -> dict:
    """Run one task in a fresh process; returns its figures plus ``process_s`` (whole process
    wall time, imports included)."""
    workdir.mkdir(parents=True, exist_ok=True)
    task_path = workdir / "task.json"
    result_path = workdir / "result.json"
    result_path.unlink(missing_ok=True)
    task_path.write_text(json.dumps(task))
    env = dict(os.environ)
    if sklearn:
        for var in OPENBLAS_VARS:  # this process only
            env.pop(var, None)
    else:
        env["TRACEGRAD_CACHE_DIR"] = task["cache_dir"]
    cmd = [sys.executable, "-m", "tracegrad._bench._cold_child", str(task_path), str(result_path)]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=timeout, check=False
    )
    process_s = time.perf_counter() - start
    if proc.returncode != 0 or not result_path.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"cold-start task {task['kind']} failed ({proc.returncode}):\n{tail}")
    return {**json.loads(result_path.read_text()), "process_s": process_s}


def _iters_to_target(V, rank: int, solver: str, target: float, max_iters: int, seed: int):
    """In this process: the first recorded iteration of one ``max_iters`` fit at the target."""
    from .. import nmf
    from ..nmf._constants import CHECK_EVERY

    result = nmf.fit(V, rank, solver=solver, max_iter=max_iters, tol=0.0, init="random", key=seed)
    history = np.asarray(result.loss_history, np.float64).reshape(-1)
    for i, loss in enumerate(history):
        if i > 0 and np.isfinite(loss) and loss <= target * (1 + REACH_RTOL):
            return min(i * CHECK_EVERY, max_iters)
    return None


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _summary(runs: list[dict]) -> dict:
    """Medians of a case's runs: wall seconds and compile figures (counts: the first run's)."""
    out = {"wall_s": _median([r["wall_s"] for r in runs]), "runs": len(runs)}
    out["process_s"] = _median([r["process_s"] for r in runs])
    if "compile_count" in runs[0]:
        out["compile_count"] = runs[0]["compile_count"]
        out["cache_hits"] = runs[0]["cache_hits"]
        out["compile_s"] = _median([r["compile_s"] for r in runs])
        out["trace_s"] = _median([r["trace_s"] for r in runs])
    return out


def run_cold(
    config: dict | None = None,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict:
    """Every case in fresh processes, ``n_runs`` rounds; see the module docstring.

    Returns:
        A JSON-ready dict: ``target`` (scikit-learn cd's loss and wall time), ``rows`` (one per
        case: ``case``, ``iters``, ``reached``, ``empty`` and ``filled`` (each ``wall_s``,
        ``compile_count``, ``compile_s``, ``cache_hits``, ``trace_s``, ``process_s``),
        ``sklearn_s`` and the ratios ``vs_sklearn_empty``/``vs_sklearn_filled``
        (scikit-learn's time over ours: above 1 ours is faster)), ``cpu_model``,
        ``environment``, ``command`` and ``config``.
    """
    cfg = _merge(config)
    say = progress or (lambda msg: None)
    timeout = float(cfg["timeout"])
    root = Path(tempfile.mkdtemp(prefix="tracegrad-cold-"))
    V = low_rank(cfg["seed"], cfg["m"], cfg["n"], cfg["rank"], cfg["zeros"], cfg["noise"])
    data = root / "data.npz"
    C = (
        catalogue(cfg["seed"], cfg["select_m"], cfg["select_n"], cfg["select_true_rank"])
        if cfg["select_rank"]
        else np.zeros((0, 0), np.float32)
    )
    np.savez(data, V=V, C=C)
    common = {"data": str(data), "seed": cfg["seed"]}
    counter = iter(range(10**9))

    def fresh(kind: str) -> Path:
        return root / f"{next(counter):03d}-{kind}"

    def sklearn_cd() -> dict:
        task = {**common, "kind": "sklearn_cd", "rank": cfg["rank"], "max_iter": cfg["cd_iters"]}
        return _child(task, fresh("sklearn_cd"), timeout, sklearn=True)

    def pair(task: dict, name: str) -> tuple[dict, dict]:
        cache = fresh(f"cache-{name}")
        cache.mkdir()
        task = {**task, "cache_dir": str(cache)}
        empty = _child(task, fresh(f"{name}-empty"), timeout)
        filled = _child(task, fresh(f"{name}-filled"), timeout)
        return empty, filled

    say(f"scikit-learn cd, {cfg['cd_iters']} iterations, fresh process: the target")
    sk_runs = [sklearn_cd()]
    target = sk_runs[0]["loss"]
    iters: dict[str, int | None] = {}
    for solver in cfg["solvers"]:
        iters[solver] = _iters_to_target(
            V, cfg["rank"], solver, target, cfg["max_iters"], cfg["seed"]
        )
        say(f"{solver}: {iters[solver] or '> ' + str(cfg['max_iters'])} iterations to target")
    cases: dict[str, dict] = {}
    for solver in cfg["solvers"]:
        n = iters[solver] or cfg["max_iters"]
        cases[f"fit {solver}"] = {
            **common, "kind": "fit", "solver": solver, "rank": cfg["rank"], "max_iter": n,
        }  # fmt: skip
    if cfg["select_rank"]:
        cases["select_rank"] = {
            **common,
            "kind": "select_rank",
            "ranks": list(cfg["select_ranks"]),
            "restarts": cfg["select_restarts"],
            "max_iter": cfg["select_iters"],
        }
    if cfg["demo"]:
        cases["demo"] = {"kind": "demo", "args": list(cfg["demo_args"])}
    runs: dict[str, list[tuple[dict, dict]]] = {name: [] for name in cases}
    sk_select: list[dict] = []
    for round_ in range(cfg["n_runs"]):
        if round_ > 0:
            say(f"round {round_ + 1}: scikit-learn cd")
            sk_runs.append(sklearn_cd())
        names = list(cases) if round_ % 2 == 0 else list(cases)[::-1]
        for name in names:
            say(f"round {round_ + 1}: {name}, empty then filled cache")
            runs[name].append(pair(cases[name], name.replace(" ", "-")))
            if name == "select_rank":
                say(f"round {round_ + 1}: scikit-learn loop of the same fits")
                task = {**cases[name], "kind": "sklearn_select"}
                sk_select.append(_child(task, fresh("sklearn_select"), timeout, sklearn=True))
    sk_cd_s = _median([r["wall_s"] for r in sk_runs])
    rows = []
    for name, pairs in runs.items():
        task = cases[name]
        row: dict = {
            "case": name,
            "empty": _summary([p[0] for p in pairs]),
            "filled": _summary([p[1] for p in pairs]),
        }
        if task["kind"] == "fit":
            losses = [r["loss"] for p in pairs for r in p]
            row.update(
                solver=task["solver"],
                iters=task["max_iter"],
                reached=iters[task["solver"]] is not None
                and max(losses) <= target * (1 + REACH_RTOL),
                loss=max(losses),
                sklearn_s=sk_cd_s,
            )
        elif task["kind"] == "select_rank":
            row["best_rank"] = pairs[0][0]["best_rank"]
            row["sklearn_s"] = _median([r["wall_s"] for r in sk_select])
            row["sklearn_best_errors"] = sk_select[0]["best_errors"]
        else:
            # what the user waits for: the whole process, imports included
            for side in ("empty", "filled"):
                row[side]["wall_s"] = row[side]["process_s"]
            row["status"] = [p[0]["status"] for p in pairs]
        if "sklearn_s" in row:
            row["vs_sklearn_empty"] = row["sklearn_s"] / row["empty"]["wall_s"]
            row["vs_sklearn_filled"] = row["sklearn_s"] / row["filled"]["wall_s"]
        rows.append(row)
    return {
        "config": cfg,
        "target": {"loss": target, "sklearn_cd_s": sk_cd_s, "runs": len(sk_runs)},
        "rows": rows,
        "reach_rtol": REACH_RTOL,
        "cpu_model": cpu_model(),
        "environment": environment(),
        "openblas_vars_parent": openblas_vars_set(),
        "command": command if command is not None else _command(),
    }


def _command() -> str:
    """This process's command line as typed: ``tracegrad ...`` for the console script and
    for ``python -m tracegrad``."""
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    if argv0 in ("tracegrad", "__main__.py"):
        return shlex.join(["tracegrad", *sys.argv[1:]])
    return shlex.join(sys.argv)


def _iters_cell(row: dict, max_iters: int) -> str:
    if "iters" not in row:
        return ""
    return str(row["iters"]) if row["reached"] else f"> {max_iters}"


def _ratio(row: dict, key: str) -> str:
    return f"{row[key]:.3g}x" if key in row else "-"


def format_cold(result: dict) -> str:
    """The rows of ``run_cold`` as a plain-text table with the measurement conditions."""
    cfg = result["config"]
    env = result["environment"]
    t = result["target"]
    header = (
        "case",
        "iters",
        "loss/target",
        "empty s",
        *(f"{h} (e)" for h in COMPILE_HEADER),
        "filled s",
        *(f"{h} (f)" for h in COMPILE_HEADER),
        "sklearn s",
        "vs sk (e)",
        "vs sk (f)",
    )
    body = []
    for r in result["rows"]:
        e, f = r["empty"], r["filled"]
        body.append(
            (
                r["case"],
                _iters_cell(r, cfg["max_iters"]),
                f"{r['loss'] / t['loss']:.4f}" if "loss" in r else "",
                f"{e['wall_s']:.2f}",
                *compile_cells(e),
                f"{f['wall_s']:.2f}",
                *compile_cells(f),
                f"{r['sklearn_s']:.2f}" if "sklearn_s" in r else "-",
                _ratio(r, "vs_sklearn_empty"),
                _ratio(r, "vs_sklearn_filled"),
            )
        )
    rounds = result["rows"][0]["empty"]["runs"] if result["rows"] else 0
    lines = [
        f"cold start: the first call in a fresh process, empty (e) then filled (f) compilation "
        f"cache, median of {rounds} round(s)",
        f"NMF: {cfg['m']}x{cfg['n']} rank {cfg['rank']} float32, low rank + "
        f"{cfg['noise']:.0%} noise; target: scikit-learn NMF(solver='cd', init='random', "
        f"random_state={cfg['seed']}, max_iter={cfg['cd_iters']}, tol=0) loss "
        f"{t['loss']:.6g} in {t['sklearn_cd_s']:.2f} s (fresh process, imports excluded)",
        *aligned_table(header, body),
        "iters: fit's max_iter, the first multiple of 10 at the target (found in a warm "
        "process; '> N': missed within max_iters); loss/target: the fresh processes' final "
        "loss over the target; s: wall seconds from just before the first "
        "call to its result (imports and JAX start-up excluded; demo: the whole process); "
        "compiles: XLA programs compiled ('cached': of them, from the persistent cache); "
        "vs sk: scikit-learn's time over ours (> 1: ours faster).",
    ]
    if cfg["select_rank"]:
        lines.append(
            f"select_rank: {len(cfg['select_ranks'])} ranks x {cfg['select_restarts']} restarts "
            f"x {cfg['select_iters']} KL iterations (tol=0, holdout=0) on a "
            f"{cfg['select_m']}x{cfg['select_n']} Poisson catalogue; scikit-learn: the same "
            f"fits as a loop of NMF(solver='mu', beta_loss='kullback-leibler')."
        )
    lines += [
        "scikit-learn ran with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in its own "
        "process"
        + (
            f" (set in this one: {result['openblas_vars_parent']})."
            if result["openblas_vars_parent"]
            else "."
        ),
        f"CPU: {result['cpu_model']}, {env.get('cpu_count')} CPUs; jax {env.get('jax')}, "
        f"scikit-learn {env.get('scikit-learn', '-')}, python {env.get('python')}, "
        f"{env.get('date')}",
        f"command: {result['command']}",
    ]
    return "\n".join(lines)
