"""Child process of ``test_nmf_sharding.py``: sharded vs one-device fits on 4 virtual CPU devices.

Run as ``python tests/_sharding_child.py OUTDIR`` with ``XLA_FLAGS`` asking for 4 host devices
(the parent sets it; JAX reads it once at start-up, so it cannot be set in the test session).
Every case runs in this one process (one JAX start-up, shared compilations); the results go
to ``OUTDIR/result.json`` as one JSON object, case name -> measurements, which the parent
asserts case by case.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # as the test session does (tests/conftest.py)

import tracegrad as tg  # noqa: E402
from tracegrad._cli import main  # noqa: E402

M, N, K = 12, 9, 3
CLI_SHAPE = (4, M, N)
"""The CLI case fits the same shapes and options as the ``batch-kl`` case on the same mesh,
so both of its runs reuse that case's compiled programs (the test's budget is compile time)."""


def _data(rng, shape, masked):
    """Low-rank plus noise at different scales per problem, so problems stop at different
    iterations; an optional mask hiding ~20% of the entries."""
    batch = shape[:-2]
    m, n = shape[-2:]
    scale = rng.uniform(0.2, 5.0, batch + (1, 1))
    V = scale * (rng.random(batch + (m, K)) @ rng.random(batch + (K, n)))
    V = V + rng.uniform(0.01, 1.0, batch + (1, 1)) * rng.random(shape)
    mask = (rng.random(shape) > 0.2).astype(np.float64) if masked else None
    return V, mask


def _rel(a, b) -> float:
    """Normwise relative difference ``max|a - b| / max|b|`` (``tracegrad.tolerances``'s
    measure), NaN entries required at the same places."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    ok = ~np.isnan(b)
    return float(np.max(np.abs(a[ok] - b[ok])) / max(np.max(np.abs(b[ok])), 1e-300))


def _compare(single, sharded) -> dict:
    shard = sharded.W.addressable_shards[0].data
    return {
        "rel_W": _rel(sharded.W, single.W),
        "rel_H": _rel(sharded.H, single.H),
        "rel_history": _rel(sharded.loss_history, single.loss_history),
        "rel_loss": _rel(sharded.loss, single.loss),
        "n_iter": [np.asarray(single.n_iter).tolist(), np.asarray(sharded.n_iter).tolist()],
        "converged": [
            np.asarray(single.converged).tolist(),
            np.asarray(sharded.converged).tolist(),
        ],
        "shapes": [list(single.W.shape), list(sharded.W.shape)],
        "dtype": [str(single.W.dtype), str(sharded.W.dtype)],
        "devices": len(sharded.W.sharding.device_set),
        "W_shard_shape": list(shard.shape),
    }


def fit_cases(mesh4, mesh22) -> dict:
    """name -> (fit kwargs, mesh, mesh_axis): both layouts, both losses, masks, padding,
    replicates, float32."""
    rng = np.random.default_rng(0)
    cases = {}

    def add(name, shape, loss, masked=False, dtype=np.float64, mesh=mesh4, axis=None,
            factors=None, **kw):  # fmt: skip
        V, mask = _data(rng, shape, masked)
        if factors is not None:  # custom initial factors: one compilation fewer per run
            kw["W0"] = rng.uniform(0.1, 1.0, factors + (shape[-2], K))
            kw["H0"] = rng.uniform(0.1, 1.0, factors + (K, shape[-1]))
        cases[name] = (dict(V=V.astype(dtype), rank=K, loss=loss, mask=mask, **kw), mesh, axis)

    fit = dict(max_iter=150, tol=5e-3)
    # batch layout: 3 problems on 4 devices (padded with a copy of the last), 4 (even split)
    add("batch-frobenius-mask-padded", (3, M, N), "frobenius", masked=True, factors=(3,), **fit)
    add("batch-kl", CLI_SHAPE, "kl", key=jax.random.split(jax.random.key(0), 4), **fit)
    # rows layout: 14 rows (padded with zero rows to 16), 16 rows (4 per device)
    add("rows-frobenius-padded", (14, N), "frobenius", factors=(), **fit)
    add("rows-kl-mask", (16, N), "kl", masked=True, key=7, **fit)
    # float32 (the caller's dtype kept), a fixed number of iterations (tol=0): rows, and
    # replicates (4 pairs of factors, one V) split over the "batch" axis of a 2 x 2 mesh
    f32 = dict(max_iter=60, tol=0.0, dtype=np.float32)
    add("rows-frobenius-float32", (16, N), "frobenius", factors=(), **f32)
    add("replicates-kl-2x2-float32", (M, N), "kl", factors=(4,), mesh=mesh22, axis="batch",
        **f32)  # fmt: skip
    # the other solvers and a beta loss: batch and rows layouts, both padded
    add("batch-hals-padded", (3, M, N), "frobenius", factors=(3,), solver="hals", **fit)
    add("rows-ahals-padded", (14, N), "frobenius", factors=(), solver="ahals", **fit)
    add("rows-beta-padded", (14, N), 0.5, factors=(), **fit)
    # the extrapolated solvers carry state through the loop: batch and rows layouts
    add("batch-apg-padded", (3, M, N), "frobenius", factors=(3,), solver="apg", **fit)
    add("rows-ehals-padded", (14, N), "frobenius", factors=(), solver="ehals", **fit)
    # the beta-divergence solvers beside MU (carried duals; emu's column sums over rows)
    add("batch-admm-padded", (3, M, N), "kl", factors=(3,), solver="admm", **fit)
    add("rows-emu-padded", (14, N), "kl", factors=(), solver="emu", **fit)
    return cases


def run_fits(mesh4, mesh22) -> dict:
    out = {}
    for name, (kw, mesh, axis) in fit_cases(mesh4, mesh22).items():
        try:
            V = kw.pop("V")
            rank = kw.pop("rank")
            t0 = time.perf_counter()
            single = tg.nmf.fit(V, rank, **kw)
            t1 = time.perf_counter()
            sharded = tg.nmf.fit(V, rank, mesh=mesh, mesh_axis=axis, **kw)
            out[name] = _compare(single, sharded)
            out[name]["seconds"] = [t1 - t0, time.perf_counter() - t1]
        except Exception:
            out[name] = {"error": traceback.format_exc()}
    return out


def run_progress(mesh4) -> dict:
    """Progress reports of a padded batch (3 problems on 4 devices): the copy added as padding
    must not enter the reported mean loss."""
    kw, _, _ = fit_cases(mesh4, mesh4)["batch-frobenius-mask-padded"]
    V, rank = kw.pop("V"), kw.pop("rank")
    calls = []
    r = tg.nmf.fit(V, rank, mesh=mesh4, progress=lambda d, loss: calls.append([d, loss]), **kw)
    return {"calls": calls, "mean_loss": float(np.mean(r.loss)), "n_iter": r.n_iter.tolist()}


def run_errors(mesh22) -> dict:
    """The message of each bad call (``None`` if it did not raise)."""
    V = np.ones((2, M, N))
    calls = {
        "two-axes-no-mesh_axis": lambda: tg.nmf.fit(V, K, mesh=mesh22),
        "unknown-mesh_axis": lambda: tg.nmf.fit(V, K, mesh=mesh22, mesh_axis="rows"),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = None
        except (TypeError, ValueError) as err:
            out[name] = f"{type(err).__name__}: {err}"
    return out


def run_cli(tmp: Path) -> dict:
    """``tracegrad nmf`` on one device and with ``--devices 4`` / ``[mesh] devices = 4``."""
    rng = np.random.default_rng(1)
    V, _ = _data(rng, CLI_SHAPE, False)
    np.save(tmp / "V.npy", V)
    config = tmp / "cfg.toml"
    config.write_text(
        '[data]\nsource = "file"\npath = "V.npy"\n'
        '[nmf]\nrank = 3\nloss = "kl"\nmax_iter = 150\ntol = 5e-3\ndtype = "float64"\n'
        "[mesh]\ndevices = 4\n"
    )
    common = ["nmf", "--config", str(config), "--quiet", "--no-plot", "--output"]
    with contextlib.redirect_stdout(io.StringIO()):  # the CLI's tables
        codes = {
            "one": main([*common, str(tmp / "one.npz"), "--devices", "1"]),
            "config4": main([*common, str(tmp / "four.npz")]),
        }
    with np.load(tmp / "one.npz") as a, np.load(tmp / "four.npz") as b:
        rel = max(_rel(b["W"], a["W"]), _rel(b["H"], a["H"]))
        n_iter = [a["n_iter"].tolist(), b["n_iter"].tolist()]
        cfg = json.loads(str(b["config"]))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        codes["too-many"] = main([*common, str(tmp / "x.npz"), "--devices", "8"])
    return {
        "codes": codes,
        "rel": rel,
        "n_iter": n_iter,
        "mesh": cfg["mesh"],
        "stderr": err.getvalue(),
    }


def main_child(outdir: str) -> None:
    assert len(jax.devices()) == 4, jax.devices()
    mesh4 = jax.sharding.Mesh(np.array(jax.devices()), ("devices",))  # as the CLI builds it
    mesh22 = jax.make_mesh((2, 2), ("batch", "other"))
    result = {"fits": run_fits(mesh4, mesh22), "errors": run_errors(mesh22)}
    result["progress"] = run_progress(mesh4)
    try:
        result["cli"] = run_cli(Path(outdir))
    except Exception:
        result["cli"] = {"error": traceback.format_exc()}
    (Path(outdir) / "result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main_child(sys.argv[1])
