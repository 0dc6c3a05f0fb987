"""The custom_vjp bridge: jax.grad through ``with_grad`` / ``Identity.as_function()``."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _frobenius import _frob, _frob_H, _frob_W
from helpers import DTYPES

import tracegrad as tg


def _assert_close(actual, expected, dtype, what=""):
    """Normwise comparison at the checker's tolerances for ``dtype``."""
    rtol, atol = tg.tolerances(dtype)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        assert a.shape == e.shape, (what, a.shape, e.shape)
        err = np.max(np.abs(a - e)) if a.size else 0.0
        assert err <= atol + rtol * np.max(np.abs(e)), f"{what}: max abs err {err:.3e}"


# -- local Frobenius objective (trace notes eq. 24) for the mechanics tests --------------------


@pytest.fixture(scope="module")
def xwh():
    kx, kw, kh = jax.random.split(jax.random.key(7), 3)
    return (
        jax.random.normal(kx, (5, 7)),
        jax.random.normal(kw, (5, 3)),
        jax.random.normal(kh, (3, 7)),
    )


# -- every registry identity --------------------------------------------------------------------


def _float_args(identity):
    return [i for i in range(len(identity.argnames)) if i != identity.wrt]


@functools.cache
def _bridge_results(name):
    """Everything the per-identity tests compare, in one compiled call per identity.

    One program for both dtypes and every argument keeps the cost at one compilation per
    identity, however many identities get registered.
    """
    identity = tg.identity(name)
    f = identity.as_function()
    shadowed = identity.as_function(check="every:1", on_mismatch="record")
    wrt = identity.wrt
    # Sampling dominates the cost (random-bit generation compiles slowly): draw once, in
    # float64 with the cheaper "rbg" key, and round the same inputs to float32.
    key = jax.random.key(1, impl="rbg")
    args64 = tuple(jax.jit(identity.sample, static_argnums=(1, 2))(key, jnp.float64, None))
    args32 = tuple(
        a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a for a in args64
    )
    others = tuple(
        i for i in _float_args(identity) if jnp.issubdtype(args64[i].dtype, jnp.floating)
    )

    def at(args):
        return {
            "value": f(*args),
            "objective": identity.objective(*args),
            "bridged": jax.grad(f, argnums=wrt)(*args),
            "closed": identity.gradient(*args),
            "autodiff": jax.grad(identity.objective, argnums=wrt)(*args),
            "others": jax.grad(f, argnums=others)(*args) if others else (),
            "others_autodiff": jax.grad(identity.objective, others)(*args) if others else (),
            "shadowed": jax.grad(shadowed, argnums=wrt)(*args),
        }

    @jax.jit
    def both(args64, args32):
        return {"float64": (args64, at(args64)), "float32": (args32, at(args32))}

    return jax.block_until_ready(both(args64, args32)), shadowed.shadow


@pytest.mark.parametrize("name", sorted(tg.registry()))
@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_through_as_function_is_the_closed_form(name, dtype):
    args, r = _bridge_results(name)[0][jnp.dtype(dtype).name]
    wrt = tg.identity(name).wrt
    _assert_close(r["value"], r["objective"], dtype, "value")
    assert r["bridged"].dtype == jnp.dtype(dtype) and r["bridged"].shape == args[wrt].shape
    _assert_close(r["bridged"], r["closed"], dtype, "bridge vs closed form")
    _assert_close(r["bridged"], r["autodiff"], dtype, "bridge vs autodiff")


@pytest.mark.parametrize("name", sorted(tg.registry()))
def test_arguments_the_identity_does_not_cover_fall_back_to_autodiff(name):
    _, r = _bridge_results(name)[0]["float64"]
    if not r["others"]:
        pytest.skip(f"{name} has no other floating argument")
    _assert_close(r["others"], r["others_autodiff"], jnp.float64, name)
    assert all(bool(jnp.any(g != 0)) for g in r["others"]), "an uncovered argument got zero"


@pytest.mark.parametrize("name", sorted(tg.registry()))
def test_registry_identities_pass_their_own_shadow_check(name):
    # no false alarms: the shadow mode accepts every registered closed form in both dtypes
    results, shadow = _bridge_results(name)
    assert shadow.checked == 2, shadow  # the float64 and the float32 backward pass
    assert shadow.mismatches == [], str(shadow.mismatches[0])
    for dtype in DTYPES:
        _, r = results[jnp.dtype(dtype).name]
        _assert_close(r["shadowed"], r["closed"], dtype, "shadowed")


# -- mechanics ----------------------------------------------------------------------------------


def test_the_hand_written_gradient_is_what_jax_grad_returns(xwh):
    # a deliberately different "gradient" shows which rule jax.grad runs
    f = tg.with_grad(_frob, lambda X, W, H: 3.0 * _frob_W(X, W, H), argnums=1)
    np.testing.assert_allclose(
        jax.grad(f, argnums=1)(*xwh), 3.0 * jax.grad(_frob, argnums=1)(*xwh), rtol=1e-12
    )


def test_several_argnums_take_a_tuple_of_gradients(xwh):
    f = tg.with_grad(_frob, lambda *a: (_frob_W(*a), _frob_H(*a)), argnums=(1, 2))
    got = jax.jit(jax.grad(f, argnums=(1, 2)))(*xwh)
    _assert_close(got, jax.grad(_frob, argnums=(1, 2))(*xwh), jnp.float64)
    # asking for one of them only still works (the other cotangent is dropped)
    _assert_close(jax.grad(f, argnums=2)(*xwh), _frob_H(*xwh), jnp.float64)
    # a one-element tuple argnums wants a one-element tuple
    g = tg.with_grad(_frob, lambda *a: (_frob_W(*a),), argnums=(1,))
    _assert_close(jax.grad(g, argnums=1)(*xwh), _frob_W(*xwh), jnp.float64)


def test_cotangent_scaling_through_a_chain(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=1)
    X, W, H = xwh

    def loss(objective, W):
        v = objective(X, W, H)
        return 2.0 * v + jnp.sin(v / 100.0) + jnp.log1p(v)

    got = jax.jit(jax.grad(functools.partial(loss, f)))(W)
    want = jax.grad(functools.partial(loss, _frob))(W)
    _assert_close(got, want, jnp.float64, "chain")
    # jax.vjp with an explicit cotangent multiplies the gradient by it
    _, vjp = jax.vjp(lambda W: f(X, W, H), W)
    _assert_close(vjp(jnp.asarray(-2.5))[0], -2.5 * _frob_W(X, W, H), jnp.float64, "vjp")


def test_vmap_of_grad_and_jit_of_vmap(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=1)
    X, W, H = xwh
    Ws = jnp.stack([W, 2 * W, -W, W + 1])
    got = jax.jit(jax.vmap(jax.grad(f, argnums=1), in_axes=(None, 0, None)))(X, Ws, H)
    want = jax.vmap(_frob_W, in_axes=(None, 0, None))(X, Ws, H)
    _assert_close(got, want, jnp.float64, "vmap")
    # grad of a batched sum: each example's cotangent is its own weight
    weights = jnp.array([1.0, -2.0, 0.5, 3.0])

    def total(Ws):
        return jnp.sum(weights * jax.vmap(f, in_axes=(None, 0, None))(X, Ws, H))

    _assert_close(jax.grad(total)(Ws), weights[:, None, None] * want, jnp.float64, "weights")


def test_pytree_arguments(xwh):
    X, W, H = xwh

    def loss(params, X):
        return _frob(X, params["W"], params["H"]) + jnp.sum(params["b"] ** 2)

    def grad(params, X):
        W, H = params["W"], params["H"]
        return {"W": _frob_W(X, W, H), "H": _frob_H(X, W, H), "b": 2.0 * params["b"]}

    params = {"W": W, "H": H, "b": jnp.arange(3.0)}
    f = tg.with_grad(loss, grad, argnums=0)
    got = jax.jit(jax.grad(f))(params, X)
    _assert_close(got, jax.grad(loss)(params, X), jnp.float64, "pytree")
    # the data argument falls back to autodiff through the same bridge
    _assert_close(jax.grad(f, argnums=1)(params, X), jax.grad(loss, 1)(params, X), jnp.float64)

    bad = tg.with_grad(loss, lambda p, X: {"W": p["W"], "H": p["H"]})
    with pytest.raises(TypeError, match="pytree structure"):
        jax.grad(bad)(params, X)


def test_integer_and_non_differentiated_arguments_pass_through(xwh):
    X, W, H = xwh

    def loss(X, W, H, power):
        return _frob(X, W, H) * power

    f = tg.with_grad(loss, lambda X, W, H, p: p * _frob_W(X, W, H), argnums=1)
    got = jax.jit(jax.grad(f, argnums=1))(X, W, H, 3)
    _assert_close(got, 3 * _frob_W(X, W, H), jnp.float64)


def test_float32_stays_float32(xwh):
    X, W, H = (a.astype(jnp.float32) for a in xwh)
    # a gradient that (carelessly) computes in float64 is cast back to the argument's dtype
    f = tg.with_grad(_frob, lambda X, W, H: _frob_W(X, W, H).astype(jnp.float64), argnums=1)
    g = jax.grad(f, argnums=1)(X, W, H)
    assert g.dtype == jnp.float32
    assert f(X, W, H).dtype == jnp.float32
    _assert_close(g, jax.grad(_frob, 1)(X, W, H), jnp.float32)


def test_keyword_arguments_are_bound_to_positions(xwh):
    X, W, H = xwh
    f = tg.with_grad(_frob, _frob_W, argnums=1)
    assert float(f(X, W=W, H=H)) == pytest.approx(float(_frob(X, W, H)))
    g = jax.grad(lambda W: f(X, H=H, W=W))(W)
    _assert_close(g, _frob_W(X, W, H), jnp.float64)

    def kwonly(X, *, scale):
        return scale * jnp.sum(X**2)

    with pytest.raises(TypeError, match="keyword-only"):
        tg.with_grad(kwonly, lambda X, *, scale: 2 * scale * X)(X, scale=2.0)


def test_second_derivatives_differentiate_the_hand_written_gradient():
    A = jax.random.normal(jax.random.key(0), (3, 4))

    def objective(x):
        return jnp.sum(jnp.sin(A @ x))

    def gradient(x):
        return A.T @ jnp.cos(A @ x)

    x = jnp.linspace(-1.0, 1.0, 4)
    f = tg.with_grad(objective, gradient)
    wrong = tg.with_grad(objective, lambda x: 2.0 * gradient(x))

    def grad_norm(fn):
        return jax.grad(lambda x: jnp.sum(jax.grad(fn)(x) ** 2))

    @jax.jit
    def second(x):
        return {
            "hessian": (jax.hessian(f)(x), jax.hessian(objective)(x)),
            "grad of grad": (grad_norm(f)(x), grad_norm(objective)(x)),
            "wrong": (jax.hessian(wrong)(x), 2.0 * jax.hessian(objective)(x)),
        }

    for what, (got, want) in second(x).items():
        # "wrong": they inherit a wrong gradient's error: the closed form is differentiated
        _assert_close(got, want, jnp.float64, what)
    # forward mode applied directly to the bridged function is JAX's documented limitation
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(f, (x,), (x,))


def test_uncovered_error_mode(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=1, uncovered="error")
    assert jax.grad(f, argnums=1)(*xwh).shape == xwh[1].shape
    with pytest.raises(ValueError, match=r"argument 2 \(H\).*does not cover"):
        jax.grad(f, argnums=2)(*xwh)
    # an argument that depends on the parameters is differentiated too: also caught
    X, W, H = xwh
    with pytest.raises(ValueError, match=r"argument 0 \(X\)"):
        jax.grad(lambda W: f(W @ H, W, H))(W)


def test_uncovered_autodiff_handles_arguments_that_depend_on_the_parameters(xwh):
    X, W, H = xwh
    f = tg.with_grad(_frob, _frob_W, argnums=1)
    got = jax.grad(lambda W: f(jnp.tanh(W) @ H, W, H))(W)
    want = jax.grad(lambda W: _frob(jnp.tanh(W) @ H, W, H))(W)
    _assert_close(got, want, jnp.float64)


def test_clear_errors(xwh):
    X, W, H = xwh
    with pytest.raises(TypeError, match="callable"):
        tg.with_grad(_frob, "not a function")
    with pytest.raises(TypeError, match="argnums"):
        tg.with_grad(_frob, _frob_W, argnums="W")
    with pytest.raises(ValueError, match="uncovered"):
        tg.with_grad(_frob, _frob_W, uncovered="zero")
    with pytest.raises(ValueError, match="argnums=.*refers to argument 5"):
        tg.with_grad(_frob, _frob_W, argnums=5)(X, W, H)
    with pytest.raises(TypeError, match="scalar"):
        tg.with_grad(lambda W: W @ H, lambda W: W)(W)
    transposed = tg.with_grad(_frob, lambda *a: _frob_W(*a).T, argnums=1)
    with pytest.raises(TypeError, match=r"argument 1 \(W\) has shape \(3, 5\), expected \(5, 3\)"):
        jax.grad(transposed, argnums=1)(X, W, H)
    single = tg.with_grad(_frob, _frob_W, argnums=(1, 2))
    with pytest.raises(TypeError, match="tuple of 2 gradients"):
        jax.grad(single, argnums=1)(X, W, H)


def test_wraps_the_objective(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=1)
    assert f.__name__ == "_frob" and f.objective is _frob and f.gradient is _frob_W
    assert f.shadow is None
    identity = tg.identity("traa.eq9")
    g = identity.as_function()
    assert g.argnums == identity.wrt and g.gradient is identity.gradient


@pytest.mark.internals  # the bridge benchmark called alone, below `tracegrad bench`
def test_bridge_benchmark_runs_on_a_tiny_size():
    from tracegrad._bench.bridge import format_bridge, run_bridge

    result = run_bridge(n=8, n_runs=1, every=3)
    variants = {"jax.grad", "custom_vjp", "bridge", "bridge first", "bridge every:3"}
    for mode in ("value_and_grad", "grad"):
        assert set(result["results"][mode]) == variants
        assert result["ratios"][mode]["custom_vjp"]["vs_custom_vjp"] == 1.0
    table = format_bridge(result)
    assert "bridge every:3" in table and "/ custom_vjp" in table


@pytest.mark.internals  # the example lives in the bridge module's docstring
def test_the_ten_line_example_runs():
    import textwrap

    import tracegrad._bridge.bridge as bridge

    doc = bridge.__doc__
    code = textwrap.dedent(doc[doc.index("Ten lines::") + 11 : doc.index("Semantics, in full")])
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    ns = {}
    exec(code, ns)
    X, W, H = ns["X"], ns["W"], ns["H"]
    assert ns["f"].shadow.checked == 1 and ns["f"].shadow.mismatches == []
    _assert_close(ns["g"], jax.grad(ns["objective"], 1)(X, W, H), jnp.float32, "example")
