"""Shadow mode: the bridge audits its closed form against autodiff inside jit."""

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _frobenius import _frob, _frob_H, _frob_W

import tracegrad as tg


def _primitives(jaxpr) -> list[str]:
    """Every primitive in a (closed) jaxpr, sub-jaxprs (cond branches, pjit, scan) included."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    names = []
    for eqn in jaxpr.eqns:
        names.append(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                if hasattr(sub, "eqns") or hasattr(getattr(sub, "jaxpr", None), "eqns"):
                    names.extend(_primitives(sub))
    return names


def test_off_compiles_to_exactly_a_plain_custom_vjp(xwh):
    @jax.custom_vjp
    def plain(X, W, H):
        return _frob(X, W, H)

    plain.defvjp(
        lambda X, W, H: (_frob(X, W, H), (X, W, H)), lambda r, g: (None, g * _frob_W(*r), None)
    )

    bridged = tg.with_grad(_frob, _frob_W, argnums=1, check=None)
    on = tg.with_grad(_frob, _frob_W, argnums=1, check="every:10")
    off_prims = _primitives(jax.make_jaxpr(jax.grad(bridged, argnums=1))(*xwh))
    plain_prims = _primitives(jax.make_jaxpr(jax.grad(plain, argnums=1))(*xwh))
    on_prims = _primitives(jax.make_jaxpr(jax.grad(on, argnums=1))(*xwh))
    assert not any("callback" in p or p == "cond" for p in off_prims), off_prims
    assert off_prims == plain_prims
    # the check really is in the program when it is on (so the assertion above can fail)
    assert {"io_callback", "cond", "debug_callback"} <= set(on_prims), on_prims


def test_every_n_counts_executions_across_jitted_calls(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=1, check="every:3", on_mismatch="record")
    step = jax.jit(jax.grad(f, argnums=1))
    for _ in range(7):
        jax.block_until_ready(step(*xwh))
    assert (f.shadow.calls, f.shadow.checked) == (7, 3)  # passes 1, 4 and 7
    assert f.shadow.mismatches == []  # a right gradient is never flagged

    wrong = tg.with_grad(
        _frob, lambda *a: 2.0 * _frob_W(*a), argnums=1, check="every:3", on_mismatch="record"
    )
    step = jax.jit(jax.grad(wrong, argnums=1))
    for _ in range(7):
        jax.block_until_ready(step(*xwh))
    assert [m.call for m in wrong.shadow.mismatches] == [1, 4, 7]
    assert all("= 2 x gradient" in m.diagnosis for m in wrong.shadow.mismatches)


def test_first_checks_once_until_reset(xwh):
    seen = []
    wrong = tg.with_grad(
        _frob, lambda *a: -_frob_W(*a), argnums=1, check="first", on_mismatch=seen.append
    )
    step = jax.jit(jax.grad(wrong, argnums=1))
    for _ in range(4):
        jax.block_until_ready(step(*xwh))
    assert (wrong.shadow.calls, wrong.shadow.checked, len(seen)) == (4, 1, 1)
    assert isinstance(seen[0], tg.ShadowMismatch) and "sign flipped" in seen[0].diagnosis
    assert seen[0].argument == "argument 1 (W)" and seen[0].shape == (6, 2)
    wrong.shadow.reset()
    jax.block_until_ready(step(*xwh))
    assert (wrong.shadow.calls, wrong.shadow.checked, len(seen)) == (1, 1, 2)


def test_wrong_gradient_is_caught_inside_a_jitted_optax_training_step(xwh):
    optax = pytest.importorskip("optax")
    X, W, H = xwh

    def loss(params, X):
        return _frob(X, params["W"], params["H"])

    def wrong_grad(params, X):  # d/dW doubled: the classic 2AB slip
        W, H = params["W"], params["H"]
        return {"W": 2.0 * _frob_W(X, W, H), "H": _frob_H(X, W, H)}

    f = tg.with_grad(loss, wrong_grad, check="every:50")
    opt = optax.adam(1e-2)
    params = {"W": W, "H": H}

    @jax.jit
    def step(params, state, X):
        value, grads = jax.value_and_grad(f)(params, X)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    with pytest.raises(Exception, match="scaled by a constant: candidate = 2 x gradient") as err:
        params, state, _ = step(params, opt.init(params), X)
        jax.block_until_ready(params)
    message = str(err.value)
    assert "GradientMismatchError" in message
    assert "argument 0 (params)['W']" in message and "backward pass #1" in message
    assert [m.argument for m in f.shadow.mismatches] == ["argument 0 (params)['W']"]


def test_warn_reports_a_transposed_gradient(xwh):
    X = xwh[0][:5]  # square W so that a transposed gradient has the right shape
    W = jax.random.normal(jax.random.key(3), (5, 5))
    H = jax.random.normal(jax.random.key(4), (5, 5))
    f = tg.with_grad(
        _frob, lambda *a: _frob_W(*a).T, argnums=1, check="every:1", on_mismatch="warn"
    )
    with pytest.warns(tg.GradientMismatchWarning, match="transposed"):
        jax.block_until_ready(jax.jit(jax.grad(f, argnums=1))(X, W, H))


def test_no_false_alarms_in_float32_under_vmap(xwh):
    X, W, H = (a.astype(jnp.float32) for a in xwh)
    f = tg.with_grad(
        _frob,
        lambda *a: (_frob_W(*a), _frob_H(*a)),
        argnums=(1, 2),
        check="every:1",
        on_mismatch="record",
    )
    Ws = jnp.stack([W, 3 * W, W - 1])
    grads = jax.jit(jax.vmap(jax.grad(f, argnums=(1, 2)), in_axes=(None, 0, None)))(X, Ws, H)
    jax.block_until_ready(grads)
    assert grads[0].dtype == jnp.float32
    assert f.shadow.checked == 1 and f.shadow.mismatches == []


# (every registry identity passing its own shadow check is in test_bridge.py, sharing the
# per-identity compiled program)


def test_nan_gradient_is_a_mismatch(xwh):
    f = tg.with_grad(
        _frob,
        lambda *a: _frob_W(*a).at[0, 0].set(jnp.nan),
        argnums=1,
        check="first",
        on_mismatch="record",
    )
    jax.block_until_ready(jax.grad(f, argnums=1)(*xwh))
    assert "non-finite" in f.shadow.mismatches[0].diagnosis


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="every:N"):
        tg.with_grad(_frob, _frob_W, check="every:0")
    with pytest.raises(ValueError, match="every:N"):
        tg.with_grad(_frob, _frob_W, check="sometimes")
    with pytest.raises(ValueError, match="on_mismatch"):
        tg.with_grad(_frob, _frob_W, check="first", on_mismatch="shout")


def test_custom_tolerances_are_used(xwh):
    # 1 % off is a mismatch at the default float64 tolerance but not at rtol=0.05
    nearly = functools.partial(lambda s, *a: s * _frob_W(*a), 1.01)
    strict = tg.with_grad(_frob, nearly, argnums=1, check="first", on_mismatch="record")
    loose = tg.with_grad(_frob, nearly, argnums=1, check="first", on_mismatch="record", rtol=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for f in (strict, loose):
            jax.block_until_ready(jax.grad(f, argnums=1)(*xwh))
    assert len(strict.shadow.mismatches) == 1 and loose.shadow.mismatches == []
    np.testing.assert_allclose(strict.shadow.mismatches[0].max_rel_err, 0.01, rtol=1e-6)
