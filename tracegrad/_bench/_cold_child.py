"""One cold-start measurement, run by ``cold.py`` as ``python -m tracegrad._bench._cold_child``.

``python -m tracegrad._bench._cold_child TASK.json RESULT.json``: imports (NumPy, JAX,
tracegrad, scikit-learn) and the JAX backend start-up happen first and are not timed; then the
task's first call is timed end to end, from just before it to its result in hand
(``block_until_ready``), with its XLA compilations counted (``count_compiles``).  The figures
go to ``RESULT.json``.  Tasks (``kind``):

- ``fit``: ``tracegrad.nmf.fit(V, rank, solver=..., max_iter=..., tol=0, init="random")``;
- ``sklearn_cd``: ``sklearn.decomposition.NMF(solver="cd", init="random", random_state=0,
  tol=0).fit_transform(V)``;
- ``select_rank``: ``tracegrad.nmf.select_rank(C, ranks, restarts=..., loss="kl", tol=0,
  holdout=0)``;
- ``sklearn_select``: the same fits as a loop of ``NMF(solver="mu",
  beta_loss="kullback-leibler", init="random", random_state=restart, tol=0)``;
- ``demo``: ``tracegrad demo`` (``tracegrad._cli.main``) with the task's arguments.

Tasks of tracegrad turn on JAX's persistent compilation cache in ``cache_dir``
(``tracegrad.enable_compilation_cache``) before the first compilation: empty in the first
process that uses the directory, filled by it for the next (``TRACEGRAD_CACHE_DIR`` is set to
it too, so the CLI, which turns the cache on by default, uses the same directory).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np


def _sklearn_cd(task: dict, data) -> dict:
    from sklearn.decomposition import NMF

    V = data["V"]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 runs to max_iter
        model = NMF(
            task["rank"],
            solver="cd",
            init="random",
            random_state=task["seed"],
            max_iter=task["max_iter"],
            tol=0.0,
        )
        model.fit_transform(V)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "loss": float(model.reconstruction_err_), "n_iter": model.n_iter_}


def _sklearn_select(task: dict, data) -> dict:
    from sklearn.decomposition import NMF

    C = data["C"]
    best = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in task["ranks"]:
            errs = []
            for r in range(task["restarts"]):
                model = NMF(
                    k,
                    solver="mu",
                    beta_loss="kullback-leibler",
                    init="random",
                    max_iter=task["max_iter"],
                    tol=0.0,
                    random_state=r,
                )
                model.fit_transform(C)
                errs.append(model.reconstruction_err_)
            best.append(float(min(errs)))
    return {"wall_s": time.perf_counter() - start, "best_errors": best}


def _tracegrad(task: dict, data) -> dict:
    from tracegrad import nmf

    from ._compiles import count_compiles

    kind = task["kind"]
    if kind == "demo":
        from tracegrad._cli import main

        with count_compiles() as compiles:
            start = time.perf_counter()
            status = main(task["args"])
            wall = time.perf_counter() - start
        return {"wall_s": wall, "status": status, **compiles.fields()}
    with count_compiles() as compiles:
        start = time.perf_counter()
        if kind == "fit":
            result = nmf.fit(
                data["V"],
                task["rank"],
                solver=task["solver"],
                max_iter=task["max_iter"],
                tol=0.0,
                init="random",
                key=task["seed"],
            )
            jax.block_until_ready(result)
            out: dict = {"loss": float(result.loss)}
        elif kind == "select_rank":
            sel = nmf.select_rank(
                data["C"],
                task["ranks"],
                restarts=task["restarts"],
                loss="kl",
                max_iter=task["max_iter"],
                tol=0.0,
                holdout=0.0,
                key=task["seed"],
            )
            jax.block_until_ready(sel)
            out = {"best_rank": int(sel.best_rank)}
        else:
            raise ValueError(f"unknown cold-start task {kind!r}")
        wall = time.perf_counter() - start
    return {"wall_s": wall, **out, **compiles.fields()}


def main(argv: list[str]) -> int:
    task_path, result_path = argv
    task = json.loads(Path(task_path).read_text())
    kind = task["kind"]
    data = dict(np.load(task["data"])) if task.get("data") else {}  # read before the clock
    if kind.startswith("sklearn"):
        import sklearn.decomposition  # noqa: F401  (imported before the clock starts)

        out = _sklearn_cd(task, data) if kind == "sklearn_cd" else _sklearn_select(task, data)
    else:
        import tracegrad._cli  # noqa: F401
        import tracegrad.nmf  # noqa: F401
        from tracegrad import enable_compilation_cache

        enable_compilation_cache(task["cache_dir"])  # for demo the CLI does it again, the same
        start = time.perf_counter()
        jax.devices()  # the backend's start-up, before the clock (recorded apart)
        backend_s = time.perf_counter() - start
        out = {**_tracegrad(task, data), "backend_init_s": backend_s}
    Path(result_path).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
