"""One compiled program per NMF fit, and none when only a setting changes.

Counted with ``jax.monitoring``'s backend-compile events, so every XLA compilation counts:
the fit's program and any eager JAX operation around it (each of which compiles a small
program of its own).  Every case uses shapes no other case uses, so its first fit is cold.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from helpers import BASE_SOLVERS, compiled_programs

import tracegrad as tg
from tracegrad.nmf import _fit

# internals: the CPU worker count (fit's cpu_workers), set to force the concurrent-groups plan
pytestmark = pytest.mark.internals

_SIZES = itertools.count(9)  # a fresh row count per case: its first fit compiles


def _fit_compiles(V, rank, **kw) -> int:
    with compiled_programs() as log:
        r = tg.nmf.fit(V, rank, **kw)
        jax.block_until_ready((r.W, r.H, r.loss_history))
    return len(log)


def _data(shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    m, n = shape[-2:]
    W = rng.gamma(1.0, 1.0, shape[:-2] + (m, 3))
    H = rng.gamma(1.0, 1.0, shape[:-2] + (3, n))
    return (W @ H + 0.1 * rng.random(shape)).astype(dtype)


# (plan, solver, loss): every solver on one problem, the batch plans with MU and HALS,
# masks with MU's two main losses
CASES = [("single", s, "frobenius") for s in tg.nmf.SOLVERS]
CASES += [(p, s, "frobenius") for p in ("batch", "replicates", "workers") for s in BASE_SOLVERS]
CASES += [("single", "mu", "kl"), ("mask", "mu", "kl"), ("mask", "mu", "frobenius")]
CASES += [
    ("single", s, "kl") for s, obj in tg.nmf.SOLVERS.items() if s != "mu" and not obj.frobenius_only
]


def _case(plan: str, monkeypatch):
    m = next(_SIZES)
    if plan == "workers":  # m n k >= _layout.MIN_WORKER_MNK: two concurrent groups
        monkeypatch.setattr(_fit, "cpu_workers", lambda: 2)
        return _data((3, 40 + m, 31)), 16, {}
    if plan == "batch":
        return _data((4, m, 7)), 2, {}
    if plan == "replicates":
        return _data((m, 7)), 2, {"key": jax.random.split(jax.random.key(1), 3)}
    V = _data((m, 7))
    if plan == "mask":
        return V, 2, {"mask": (np.random.default_rng(m).random(V.shape) > 0.2).astype(V.dtype)}
    return V, 2, {}


@pytest.mark.parametrize(("plan", "solver", "loss"), CASES)
def test_a_cold_fit_compiles_one_program_and_settings_compile_nothing(
    plan, solver, loss, monkeypatch
):
    V, rank, extra = _case(plan, monkeypatch)
    kw = dict(solver=solver, loss=loss, **extra)
    assert _fit_compiles(V, rank, max_iter=20, tol=1e-4, **kw) <= 1
    # new values of every setting that is a value of the program: nothing compiles
    key = {} if "key" in extra else {"key": 7}
    changed = dict(max_iter=33, tol=1e-6, alpha_W=0.2, alpha_H=0.1, l1_ratio=0.4, **key)
    assert _fit_compiles(V, rank, **changed, **kw) == 0
    assert _fit_compiles(V * 2, rank, max_iter=7, tol=0.0, alpha_H="same", **kw) == 0
    if hasattr(tg.nmf.SOLVERS[solver], "rho"):  # a float setting is a value, not the program
        kw["solver"] = type(tg.nmf.SOLVERS[solver])(rho=2.5)
        assert _fit_compiles(V, rank, max_iter=20, tol=1e-4, **kw) == 0


def test_the_compile_counter_sees_compilations():
    """The counter is live: a new shape compiles (so the zeros above mean something)."""
    assert _fit_compiles(_data((next(_SIZES), 5)), 2, max_iter=10) == 1


def test_two_hundred_distinct_max_iter_in_one_process():
    """A sweep over max_iter reuses one program: no recompile, no exhausted memory maps."""
    V = _data((next(_SIZES), 6))
    with compiled_programs() as log:
        for max_iter in range(1, 201):
            r = tg.nmf.fit(V, 2, max_iter=max_iter, tol=0.0, key=max_iter)
            assert r.loss_history.shape == (max_iter // 10 + 1,)
            assert int(r.n_iter) == max_iter
    assert len(log) <= 1  # the first fit of the new shape


def test_loss_iterations_follow_max_iter():
    """The record's length and iterations follow max_iter; the program does not."""
    V = _data((next(_SIZES), 6))
    short = tg.nmf.fit(V, 2, max_iter=25, tol=0.0)
    long = tg.nmf.fit(V, 2, max_iter=45, tol=0.0)
    np.testing.assert_array_equal(short.loss_iterations, [0, 10, 20])
    np.testing.assert_array_equal(long.loss_iterations, [0, 10, 20, 30, 40])
    # the first 20 iterations are the same iterations
    np.testing.assert_array_equal(short.loss_history, long.loss_history[:3])
