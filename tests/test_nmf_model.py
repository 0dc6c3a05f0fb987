"""The NMF module inside user JAX code, monotone MU steps, and progress reporting."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import REGISTRY_LOSSES

import tracegrad as tg
from tracegrad.nmf import LOSSES, SOLVERS

M, N, K = 12, 9, 3
MONOTONE_SLACK = 1e-12
"""MU never increases the objective in exact arithmetic; in float64 an increase up to ~1e-15
relative is rounding.  1e-12 is far below any real increase (a wrong update rule raises it by
percents)."""


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    V = rng.random((M, N))
    V[V < 0.1] = 0.0
    mask = (rng.random((M, N)) < 0.75).astype(float)
    W0 = rng.random((M, K)) + 0.1
    H0 = rng.random((K, N)) + 0.1
    return jnp.asarray(V), jnp.asarray(mask), jnp.asarray(W0), jnp.asarray(H0)


STEPS = 200
"""MU steps of every trajectory below: one length, so the jitted scans are shared."""


@functools.partial(jax.jit, static_argnames="steps")
def _trajectory(model, V, mask, steps=STEPS):
    """``steps`` MU steps and the objective after each.  One jitted function at module level:
    the penalty settings are pytree leaves, so the cases differing only in them (and the fit
    comparison) reuse one compiled scan per loss and mask."""

    def body(m, _):
        m = m.step(V, mask)
        return m, m.objective(V, mask)

    return jax.lax.scan(body, model, None, length=steps)


CASES = [
    ("frobenius", 0.0, 0.0, False),
    ("kl", 0.0, 0.0, False),
    ("frobenius", 0.05, 0.7, False),  # L1 + L2
    ("kl", 0.05, 1.0, False),  # L1
    ("frobenius", 0.0, 0.0, True),  # masked
    ("kl", 0.0, 0.0, True),
]


@pytest.mark.parametrize(("loss", "alpha", "l1_ratio", "masked"), CASES)
def test_objective_never_increases(data, loss, alpha, l1_ratio, masked):
    V, mask, W0, H0 = data
    mask = mask if masked else None
    model = tg.nmf.NMF(W0, H0, loss_type=loss, alpha_W=alpha, l1_ratio=l1_ratio)
    _, objective = _trajectory(model, V, mask)
    objective = np.concatenate([[float(model.objective(V, mask))], np.asarray(objective)])
    increase = np.diff(objective) / objective[:-1]
    assert np.all(increase <= MONOTONE_SLACK), increase.max()
    assert objective[-1] < 0.9 * objective[0]  # and it did move


def test_a_wrong_update_breaks_monotonicity(data):
    """The check above can fail: an update with the gradient parts swapped climbs."""
    V, _, W0, H0 = data
    neg, pos = tg.nmf.gradient_parts("frobenius", "W", V, W0, H0)
    model = tg.nmf.NMF(W0, H0)
    worse = eqx.tree_at(lambda m: m.W, model, W0 * pos / neg)
    assert float(worse.objective(V)) > float(model.objective(V))


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_fit_iterates_are_module_steps(data, loss):
    V, _, W0, H0 = data
    r = tg.nmf.fit(V, K, loss=loss, W0=W0, H0=H0, max_iter=STEPS, tol=0.0)
    final, _ = _trajectory(tg.nmf.NMF(W0, H0, loss_type=loss), V, None)
    np.testing.assert_allclose(r.W, final.W, rtol=1e-9)
    np.testing.assert_allclose(r.H, final.H, rtol=1e-9)
    assert float(r.loss) == pytest.approx(float(final.loss(V, square_root=True)), rel=1e-9)
    model = r.to_model()
    assert isinstance(model, tg.nmf.NMF) and model.loss_type == loss


def test_module_is_jittable_batched_and_differentiable(data):
    V, _, W0, H0 = data
    model = tg.nmf.NMF(jnp.stack([W0, 2 * W0]), jnp.stack([H0, H0]), loss_type="kl")
    recon = jax.jit(lambda m: m.reconstruct())(model)
    assert recon.shape == (2, M, N)
    np.testing.assert_allclose(recon[1], 2 * W0 @ H0, rtol=1e-12)
    assert jax.jit(lambda m: m.loss(V))(model).shape == (2,)  # V shared by both
    grads = jax.grad(lambda m: jnp.sum(m.loss(V)))(model)
    dW, dH = tg.nmf.registry_gradient("kl", V, 2 * W0, H0)
    # V has zeros, where the registry's log form and the divergence differ only by constants
    np.testing.assert_allclose(grads.W[1], dW, rtol=1e-10)
    np.testing.assert_allclose(grads.H[1], dH, rtol=1e-10)
    stepped = jax.jit(lambda m: m.step(V))(model)
    assert stepped.W.shape == (2, M, K) and bool(jnp.all(stepped.W >= 0))


def test_module_init_and_checks(data):
    V = data[0]
    m = tg.nmf.NMF.init(V, K, loss="kl", init="nndsvda")
    W, H = tg.nmf.init_factors(V, K, "nndsvda", jax.random.key(0))
    np.testing.assert_array_equal(m.W, W)
    with pytest.raises(ValueError, match="must share K"):
        tg.nmf.NMF(jnp.ones((4, 2)), jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="loss_type must be one of"):
        tg.nmf.NMF(jnp.ones((4, 2)), jnp.ones((2, 5)), loss_type="l2")


def test_progress_callback_reports_iterations_and_loss(data):
    V, _, W0, H0 = data
    calls = []
    r = tg.nmf.fit(
        V, K, W0=W0, H0=H0, max_iter=60, tol=0.0, progress=lambda d, l: calls.append((d, l))
    )
    done = [d for d, _ in calls]
    assert done[:-1] == [10, 20, 30, 40, 50, 60] and done[-1] == 60
    hist = np.asarray(r.loss_history)
    np.testing.assert_allclose([l for _, l in calls[:-1]], hist[1:], rtol=1e-12)
    assert calls[-1][1] == pytest.approx(float(r.loss))


@pytest.mark.internals  # the compiled program's text: the public API shows no HLO
def test_no_callback_compiled_when_progress_is_off(data):
    from tracegrad.nmf import _execute
    from tracegrad.nmf._execute import Plan
    from tracegrad.nmf._regularization import Penalty

    V, _, W0, H0 = data
    pen = Penalty(0.0, 0.0, 0.0, 0.0)
    args = (V, None, W0, H0, None, None, 0, pen, None, 0.0, 60, 1, 0)  # None: no settings
    plan = dict(
        dtype=np.dtype(W0.dtype).name, rank=K, init="random", loss=LOSSES["kl"],
        solver=SOLVERS["mu"], update_W=True, update_H=True, custom=True, start_W=False,
        start_H=False, batch=(), v_batched=False, key_kind="none", key_batched=False, group=1,
        traced=False,
    )  # fmt: skip
    off = _execute.program.lower(*args, plan=Plan(**plan, with_progress=False)).as_text()
    on = _execute.program.lower(*args, plan=Plan(**plan, with_progress=True)).as_text()
    assert "callback" not in off
    assert "callback" in on


def test_progress_true_prints(data, capsys):
    V, _, W0, H0 = data
    tg.nmf.fit(V, K, W0=W0, H0=H0, max_iter=20, tol=0.0, progress=True)
    err = capsys.readouterr().err
    assert "nmf: 10 iterations, loss" in err and "nmf: 20 iterations" in err
