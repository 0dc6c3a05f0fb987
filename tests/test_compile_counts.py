"""Promises not to recompile, checked by counting compilations (the jitted cache sizes).

* NMF (``tracegrad.nmf.fit``, ``nmf/_progress``, ``nmf/_regularization``): one program per
  (shape, dtype, loss, solver, plan); new data, new regularisation values (``alpha_W``,
  ``alpha_H``, ``l1_ratio``), a new ``tol`` or ``max_iter`` or a new progress callback reuse
  it (``tests/test_nmf_compiles.py`` counts every XLA compilation).
* The checker: the autodiff references of an identity compile once; checking it again (another
  seed: new values, same shapes) compiles nothing.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.nmf import _execute

# internals: the compiled NMF program's cache size: the public API counts no programs
pytestmark = pytest.mark.internals


def _V(seed, shape=(7, 5), dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).random(shape), dtype)


def _compiles(**kw) -> int:
    """How many new compilations of the NMF program one ``fit`` call causes."""
    before = _execute.program._cache_size()
    jax.block_until_ready(tg.nmf.fit(rank=2, key=0, **kw).W)
    return _execute.program._cache_size() - before


def test_nmf_compiles_once_per_shape_dtype_and_loss():
    base = dict(loss="frobenius", max_iter=4, tol=1e-4)
    _compiles(V=_V(0), **base)  # the first call compiles (or finds a compile of another test)
    # new values of everything that is not in the key: nothing compiles
    assert _compiles(V=_V(1), **base) == 0
    assert _compiles(V=_V(2), **{**base, "tol": 0.0}) == 0
    assert _compiles(V=_V(3), alpha_W=0.3, alpha_H=0.1, l1_ratio=0.5, **base) == 0
    assert _compiles(V=_V(4), alpha_W=0.7, alpha_H="same", l1_ratio=0.2, **base) == 0
    assert _compiles(V=_V(5), **{**base, "max_iter": 5}) == 0
    # a part of the key (here the loss; shapes and dtypes are jit's own cache key): one
    # compile, so the counter above does see compilations
    assert _compiles(V=_V(6), **{**base, "loss": "kl"}) == 1


def test_nmf_new_progress_callbacks_do_not_recompile():
    seen: list = []
    kw = dict(V=_V(0), loss="frobenius", max_iter=3, tol=0.0)
    _compiles(progress=lambda done, loss: seen.append(done), **kw)  # the progress variant
    assert seen, "the progress callback was never called"
    for _ in range(2):
        calls: list = []
        assert _compiles(progress=lambda done, loss, c=calls: c.append(done), **kw) == 0
        assert calls and calls[-1] == 3  # the new callback is the one called


def test_checker_references_compile_once_per_identity(dtype=jnp.float32):
    """``check_grad`` traces the objective (compiling the references) for a new identity; a
    second check at new values of the same shapes traces, so compiles, nothing."""
    ident = tg.identity("traa.eq12")  # rectangular shapes, cheap objective
    traces = []

    def objective(*args):
        if any(isinstance(a, jax.core.Tracer) for a in args):
            traces.append(1)
        return ident.objective(*args)

    def check(seed):
        args = ident.arguments(seed, dtype)
        return tg.check_grad(objective, ident.gradient, *args, argnum=ident.wrt)

    with jax.enable_x64(True):  # the float64 finite-difference reference
        assert check(0).ok
        assert traces, "the references never traced the objective"
        first = len(traces)
        for seed in (1, 2):
            assert check(seed).ok
        assert len(traces) == first, f"{len(traces) - first} new traces for new values"
