"""The ``NMF`` module's methods and ``init_factors`` compile one program per call, and none
when only values change (data, keys, penalty settings); their results are the building
blocks' (``mu_step``, ``divergence``, ``initial_factors``) under ``jax.jit``, bit for bit.

Counted with ``jax.monitoring``'s backend-compile events, so every XLA compilation counts:
the method's program and any eager JAX operation around it (each of which compiles a small
program of its own).  Every case uses shapes no other case uses, so its first call is cold;
references are computed outside the counted regions.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import compiled_programs

import tracegrad as tg
from tracegrad.nmf import LOSSES
from tracegrad.nmf._init import initial_factors
from tracegrad.nmf._loss import divergence, penalty_value
from tracegrad.nmf._regularization import penalty
from tracegrad.nmf._updates import mu_step

# internals: the NMF building blocks (init, loss, penalty, MU step) compiled alone, counted
pytestmark = pytest.mark.internals

_ROWS = itertools.count(29)  # a fresh row count per case: its first call compiles
N, K = 7, 3


def _compiles(fn, *args, **kwargs):
    """``(compilations, result)`` of one call, its results computed."""
    with compiled_programs() as log:
        out = fn(*args, **kwargs)
        jax.block_until_ready(jax.tree.leaves(out))
    return len(log), out


def _data(m: int, seed: int, dtype, masked: bool):
    rng = np.random.default_rng(seed)
    V = rng.random((m, N)).astype(dtype)
    V[V < 0.1] = 0.0
    mask = (rng.random((m, N)) < 0.8).astype(dtype) if masked else None
    return V, mask


def _factors(m: int, seed: int, dtype):
    rng = np.random.default_rng(seed + 100)
    W = jax.device_put((rng.random((m, K)) + 0.1).astype(dtype))
    H = jax.device_put((rng.random((K, N)) + 0.1).astype(dtype))
    return W, H


# The references: the building blocks under jax.jit, on data zeroed where masked (what the
# methods check and compute on), penalty weights as the host computes them.


@functools.partial(jax.jit, static_argnames=("loss",))
def _ref_step(V, mask, W, H, pen, *, loss):
    return mu_step(V, W, H, LOSSES[loss], pen, mask)


@functools.partial(jax.jit, static_argnames=("loss", "square_root"))
def _ref_loss(V, mask, W, H, pen, *, loss, square_root):
    d = divergence(V, W, H, LOSSES[loss], mask)
    out = jnp.sqrt(2.0 * jnp.maximum(d, 0.0)) if square_root else d
    return out if pen is None else out + penalty_value(W, H, pen)


_ref_init = jax.jit(initial_factors, static_argnums=(1, 2))


def _observed(V, mask):
    return V if mask is None else np.where(mask != 0, V, 0).astype(V.dtype)


def _weights(m, dtype, alpha_W, alpha_H, l1_ratio):
    pen = penalty(alpha_W, alpha_H, l1_ratio, m, N)
    return jax.tree.map(lambda w: np.asarray(w, dtype), pen)


CASES = [("kl", np.float32, True), ("frobenius", np.float64, False)]


@pytest.mark.parametrize(("loss", "dtype", "masked"), CASES)
def test_each_method_compiles_one_program_then_none(loss, dtype, masked):
    m = next(_ROWS)
    V, mask = _data(m, 0, dtype, masked)
    W, H = _factors(m, 0, dtype)
    model = tg.nmf.NMF(W, H, loss_type=loss, alpha_W=0.05, l1_ratio=0.5)
    pen = _weights(m, dtype, 0.05, "same", 0.5)
    calls = {
        "step": lambda mod, v, msk: mod.step(v, msk),
        "loss": lambda mod, v, msk: mod.loss(v, msk),
        "sqrt": lambda mod, v, msk: mod.loss(v, msk, square_root=True),
        "objective": lambda mod, v, msk: mod.objective(v, msk),
    }
    first = {}
    for name, call in calls.items():
        n, first[name] = _compiles(call, model, V, mask)
        assert n <= 1, (name, n)
    # new data, a new mask, new factors and new penalty values: nothing compiles
    V2, mask2 = _data(m, 1, dtype, masked)
    W2, H2 = _factors(m, 1, dtype)
    other = tg.nmf.NMF(W2, H2, loss_type=loss, alpha_W=0.2, alpha_H=0.1, l1_ratio=0.9)
    for name, call in calls.items():
        n, _ = _compiles(call, other, V2, mask2)
        assert n == 0, (name, n)

    Vo = _observed(V, mask)
    W_ref, H_ref = _ref_step(Vo, mask, W, H, pen, loss=loss)
    np.testing.assert_array_equal(first["step"].W, W_ref)
    np.testing.assert_array_equal(first["step"].H, H_ref)
    for name, sq, p in (("loss", False, None), ("sqrt", True, None), ("objective", False, pen)):
        ref = _ref_loss(Vo, mask, W, H, p, loss=loss, square_root=sq)
        np.testing.assert_array_equal(first[name], ref)


def test_init_factors_and_nmf_init_compile_one_program_then_none():
    m = next(_ROWS)
    V, _ = _data(m, 0, np.float64, False)
    n, (W, H) = _compiles(tg.nmf.init_factors, V, K, "random", 5)
    assert n <= 1
    V2, mask2 = _data(m, 1, np.float64, True)
    n, (W2, _) = _compiles(tg.nmf.init_factors, V2 + 1.0, K, "random", 2**40)  # new key, data
    assert n == 0
    # int seeds are made on the host, as jax.random.key makes them
    W_ref, H_ref = _ref_init(V, K, "random", jax.random.key(5))
    np.testing.assert_array_equal(W, W_ref)
    np.testing.assert_array_equal(H, H_ref)
    np.testing.assert_array_equal(W2, _ref_init(V2 + 1.0, K, "random", jax.random.key(2**40))[0])

    kw = dict(loss="kl", init="nndsvda", alpha_W=0.1, l1_ratio=0.3)
    n, model = _compiles(tg.nmf.NMF.init, V, K, mask=mask2, **kw)
    assert n <= 1
    kw |= dict(alpha_W=0.4, alpha_H=0.2)  # new settings: values, not programs
    n, _ = _compiles(tg.nmf.NMF.init, V2, K, mask=mask2, **kw)
    assert n == 0
    W_ref, _ = _ref_init(_observed(V, mask2), K, "nndsvda", jax.random.key(0), mask2)
    np.testing.assert_array_equal(model.W, W_ref)
    assert model.loss_type == "kl" and model.alpha_W == 0.1 and model.alpha_H == "same"


@pytest.mark.parametrize("same", [True, False])
def test_a_jitted_step_loop_compiles_once_for_every_penalty(same):
    """The penalty settings are data: a new alpha or l1_ratio traces nothing new."""
    m = next(_ROWS)
    V, _ = _data(m, 0, np.float32, False)
    W, H = _factors(m, 0, np.float32)
    step = jax.jit(lambda mod, v: mod.step(v))
    settings = [(0.0, 0.0), (0.1, 0.5), (0.3, 1.0)]
    compiles = []
    for alpha, l1_ratio in settings:
        alpha_H = "same" if same else 2 * alpha
        model = tg.nmf.NMF(W, H, alpha_W=alpha, alpha_H=alpha_H, l1_ratio=l1_ratio)
        for _ in range(2):  # the stepped module (its settings now JAX scalars) goes round again
            n, model = _compiles(step, model, V)
            compiles.append(n)
        pen = _weights(m, np.float32, alpha, alpha_H, l1_ratio)
        W_ref, H_ref = _ref_step(V, None, *_ref_step(V, None, W, H, pen, loss="frobenius"), pen,
                                 loss="frobenius")  # fmt: skip
        np.testing.assert_array_equal(model.W, W_ref)
        np.testing.assert_array_equal(model.H, H_ref)
    assert compiles[0] <= 1 and sum(compiles[1:]) == 0, compiles


def test_settings_are_leaves_and_results_round_trip():
    m = next(_ROWS)
    V, _ = _data(m, 0, np.float64, False)
    W, H = _factors(m, 0, np.float64)
    model = tg.nmf.NMF(W, H, alpha_W=0.25, l1_ratio=0.5)
    assert model.alpha_H == "same" and model.alpha_W == 0.25
    assert jax.tree.leaves(model)[2:] == [0.25, 0.5]  # W, H, then the settings
    # grad w.r.t. a setting: the L1 part of the objective is l1_ratio N alpha_W sum W + ...
    Vj = jax.device_put(V)
    grad = jax.grad(lambda a: tg.nmf.NMF(W, H, alpha_W=a, l1_ratio=1.0).objective(Vj))(0.25)
    np.testing.assert_allclose(grad, N * np.sum(W) + m * np.sum(H), rtol=1e-12)
    ones = jnp.ones(())
    r = tg.nmf.NMFResult(W=W, H=H, loss_history=ones[None], n_iter=ones, converged=ones > 0,
                         loss=ones, alpha_W=0.1, l1_ratio=0.2)  # fmt: skip
    back = r.to_model()
    assert back.alpha_W == 0.1 and back.alpha_H == "same" and back.l1_ratio == 0.2
    assert back.W is r.W


def test_out_of_range_data_compiles_one_program_then_none():
    m = next(_ROWS)
    V, _ = _data(m, 0, np.float32, False)
    W, H = _factors(m, 0, np.float32)
    s = 2.0**100  # a power of four: the rescaled problem is the unscaled one exactly
    big = tg.nmf.NMF(W * np.float32(2.0**50), H * np.float32(2.0**50))
    n, out = _compiles(big.loss, V * np.float32(s), square_root=True)
    assert n <= 1
    np.testing.assert_array_equal(
        out, _ref_loss(V, None, W, H, None, loss="frobenius", square_root=True) * np.float32(s)
    )
    n, _ = _compiles(big.loss, (V + 1.0) * np.float32(s), square_root=True)
    assert n == 0
