"""``tracegrad.kalman``: gain, Joseph-form update, predict."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES, assert_normwise_close

import tracegrad as tg
from tracegrad import kalman


def _cv_model(dt=0.5, q=0.1, r=0.8, dtype=np.float64):
    """2-D constant velocity: state (px, py, vx, vy), position measured."""
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    G = np.array([[dt**2 / 2, 0], [0, dt**2 / 2], [dt, 0], [0, dt]])
    Q = q * G @ G.T + 1e-6 * np.eye(4)  # a little extra so Q is definite, not only semi
    H = np.zeros((2, 4))
    H[0, 0] = H[1, 1] = 1.0
    R = r * np.array([[1.0, 0.3], [0.3, 0.5]])
    return tuple(a.astype(dtype) for a in (F, Q, H, R))


def _track(steps, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    F, Q, H, R = _cv_model(dtype=np.float64)
    x = np.array([0.0, 0.0, 1.0, 0.5])
    zs = []
    for _ in range(steps):
        x = F @ x + rng.multivariate_normal(np.zeros(4), Q)
        zs.append(H @ x + rng.multivariate_normal(np.zeros(2), R))
    return np.asarray(zs, dtype)


def test_agrees_with_filterpy_over_a_track():
    filterpy_kalman = pytest.importorskip("filterpy.kalman")
    F, Q, H, R = _cv_model()
    x0, P0 = np.zeros(4), 10.0 * np.eye(4)
    zs = _track(25)
    kf = filterpy_kalman.KalmanFilter(dim_x=4, dim_z=2)
    kf.x, kf.P, kf.F, kf.Q, kf.H, kf.R = x0.copy(), P0.copy(), F, Q, H, R

    @jax.jit
    def step(x, P, z):
        x, P = kalman.predict(x, P, F, Q)
        return kalman.update(x, P, z, H, R)

    x, P = jnp.asarray(x0), jnp.asarray(P0)
    for t, z in enumerate(zs):
        kf.predict()
        kf.update(z)
        x, P = step(x, P, z)
        assert_normwise_close(x, kf.x, jnp.float64, f"x at step {t}")
        assert_normwise_close(P, kf.P, jnp.float64, f"P at step {t}")


def test_batched_over_leading_axes_with_broadcasting():
    F, Q, H, R = _cv_model()
    rng = np.random.default_rng(1)
    B = 3
    xs = rng.normal(size=(B, 4))
    A = rng.normal(size=(B, 4, 4))
    Ps = A @ np.swapaxes(A, 1, 2) + np.eye(4)
    Rs = np.stack([R, 2 * R, 0.5 * R])
    zs = rng.normal(size=(B, 2))

    @jax.jit
    def batched(xs, Ps, zs, Rs):
        # H and F, Q shared: broadcast against the batch
        return (
            kalman.gain(Ps, H, Rs),
            *kalman.update(xs, Ps, zs, H, Rs),
            *kalman.predict(xs, Ps, F, Q),
        )

    K, xn, Pn, xp, Pp = batched(xs, Ps, zs, Rs)
    assert K.shape == (B, 4, 2) and xn.shape == (B, 4) and Pn.shape == (B, 4, 4)

    @jax.jit
    def one_by_one(xs, Ps, zs, Rs):
        out = []
        for b in range(B):
            xb, Pb = kalman.update(xs[b], Ps[b], zs[b], H, Rs[b])
            out.append((kalman.gain(Ps[b], H, Rs[b]), xb, Pb, *kalman.predict(xs[b], Ps[b], F, Q)))
        return [jnp.stack(parts) for parts in zip(*out, strict=True)]

    Kb, xb, Pb, xpb, Ppb = one_by_one(xs, Ps, zs, Rs)
    for what, got, want in [
        ("gain", K, Kb),
        ("x", xn, xb),
        ("P", Pn, Pb),
        ("predict x", xp, xpb),
        ("predict P", Pp, Ppb),
    ]:
        assert_normwise_close(got, want, jnp.float64, what)
    assert_normwise_close(xp, xs @ F.T, jnp.float64, "predict x formula")
    assert_normwise_close(Pp, F @ Ps @ F.T + Q, jnp.float64, "predict P formula")
    # vmap gives the same as leading axes
    Kv = jax.vmap(kalman.gain, in_axes=(0, None, 0))(jnp.asarray(Ps), H, jnp.asarray(Rs))
    assert_normwise_close(Kv, K, jnp.float64, "vmap")


@pytest.mark.parametrize("dtype", DTYPES)
def test_gain_formula_and_dtype(dtype):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 5))
    P = (A @ A.T + np.eye(5)).astype(dtype)
    H = rng.normal(size=(3, 5)).astype(dtype)
    R = (np.eye(3) + 0.2 * np.ones((3, 3))).astype(dtype)
    K = kalman.gain(P, H, R)
    assert K.dtype == dtype and K.shape == (5, 3)
    P64, H64, R64 = (np.asarray(a, np.float64) for a in (P, H, R))
    want = P64 @ H64.T @ np.linalg.inv(H64 @ P64 @ H64.T + R64)
    assert_normwise_close(K, want, dtype, "gain")
    x, Pn = kalman.update(np.zeros(5, dtype), P, np.ones(3, dtype), H, R)
    assert x.dtype == dtype and Pn.dtype == dtype
    # integer structural matrices take the covariances' dtype
    assert kalman.gain(P, np.eye(3, 5, dtype=np.int32), R).dtype == dtype


# -- d tr(P_post)/dK vanishes at the gain, Hessian positive definite ----------------------------


def _posterior_trace(K, P, H, R):
    A = jnp.eye(P.shape[0]) - K @ H
    return jnp.trace(A @ P @ A.T + K @ R @ K.T)


def _posterior_trace_grad(K, P, H, R):  # Kalman gain derivation: -2 (H P)^T + 2 K (H P H^T + R)
    return -2.0 * (H @ P).T + 2.0 * K @ (H @ P @ H.T + R)


@pytest.fixture(scope="module")
def kalman_problem():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    P = A @ A.T + np.eye(4)
    H = rng.normal(size=(3, 4))
    B = rng.normal(size=(3, 3))
    R = B @ B.T + np.eye(3)
    return jnp.asarray(P), jnp.asarray(H), jnp.asarray(R)


def _assert_stationary_minimum(objective, gradient, P, H, R):
    K = kalman.gain(P, H, R)
    dK = jax.random.normal(jax.random.key(0), K.shape, K.dtype)

    @jax.jit
    def at_gain(K, P, H, R):
        return {
            "closed": gradient(K, P, H, R),
            "autodiff": jax.grad(objective)(K, P, H, R),
            "hessian": jax.hessian(objective)(K, P, H, R).reshape(K.size, K.size),
            "value": objective(K, P, H, R),
            "moved": objective(K + 1e-3 * dK, P, H, R),
        }

    r = at_gain(K, P, H, R)
    scale = float(jnp.max(jnp.abs(2.0 * (H @ P).T)))  # size of each term of the gradient
    rtol = tg.default_rtol(jnp.float64)
    assert float(jnp.max(jnp.abs(r["closed"]))) <= rtol * scale
    assert float(jnp.max(jnp.abs(r["autodiff"]))) <= rtol * scale
    # the Hessian in vec(K) is 2 (S kron I) for S = H P H^T + R: positive definite
    eig = np.linalg.eigvalsh(np.asarray(r["hessian"]))
    S = np.asarray(H @ P @ H.T + R)
    assert eig.min() > 0
    np.testing.assert_allclose(
        np.sort(eig), np.sort(np.repeat(2 * np.linalg.eigvalsh(S), K.shape[0])), rtol=1e-9
    )
    # and moving away from the gain increases the trace
    assert float(r["moved"]) > float(r["value"])


def test_trace_gradient_vanishes_at_the_gain_local(kalman_problem):
    _assert_stationary_minimum(_posterior_trace, _posterior_trace_grad, *kalman_problem)


def test_trace_gradient_vanishes_at_the_gain_registry(kalman_problem):
    name = "kalman.trace_posterior_covariance"
    if name not in tg.registry():
        pytest.skip(f"{name} is not registered in this build (the local test covers the math)")
    identity = tg.identity(name)
    assert identity.argnames == ("K", "P", "H", "R") and identity.wrt_name == "K"
    _assert_stationary_minimum(identity.objective, identity.gradient, *kalman_problem)
    # and through the bridge
    f = identity.as_function()
    P, H, R = kalman_problem
    K = kalman.gain(P, H, R)
    scale = float(jnp.max(jnp.abs(2.0 * (H @ P).T)))
    assert float(jnp.max(jnp.abs(jax.grad(f)(K, P, H, R)))) <= tg.default_rtol("float64") * scale


# -- long runs in float32 -----------------------------------------------------------------------


def test_covariances_stay_symmetric_positive_definite_over_1000_float32_steps():
    steps = 1000
    zs = _track(steps, seed=4)

    def run(dtype):
        F, Q, H, R = (jnp.asarray(a, dtype) for a in _cv_model())

        def step(carry, z):
            x, P = kalman.predict(*carry, F, Q)
            x, P = kalman.update(x, P, z, H, R)
            return (x, P), P

        init = (jnp.zeros(4, dtype), 100.0 * jnp.eye(4, dtype=dtype))
        _, Ps = jax.jit(lambda zs: jax.lax.scan(step, init, zs))(jnp.asarray(zs, dtype))
        return np.asarray(Ps)

    P32 = run(jnp.float32)
    assert P32.dtype == np.float32 and P32.shape == (steps, 4, 4)
    np.testing.assert_array_equal(P32, np.swapaxes(P32, 1, 2))  # exactly symmetric
    eig = np.linalg.eigvalsh(P32.astype(np.float64))
    assert eig.min() > 0, f"lost positive definiteness: smallest eigenvalue {eig.min():.3e}"
    # and close to the float64 filter throughout (no drift)
    P64 = run(jnp.float64)
    assert_normwise_close(P32[-1], P64[-1], jnp.float32, "steady state")
    assert_normwise_close(P32, P64, jnp.float32, "every step")


def test_update_with_a_given_gain_is_the_joseph_form():
    F, Q, H, R = _cv_model()
    P = 2.0 * np.eye(4) + 0.1
    x, z = np.ones(4), np.array([0.3, -0.2])
    K = kalman.gain(P, H, R)
    x1, P1 = kalman.update(x, P, z, H, R)
    x2, P2 = kalman.update(x, P, z, H, R, gain=K)
    assert_normwise_close(x2, x1, jnp.float64)
    assert_normwise_close(P2, P1, jnp.float64)
    # a sub-optimal gain: Joseph is still the true posterior covariance, the short form is not
    Ks = 0.5 * np.asarray(K)
    _, Pj = kalman.update(x, P, z, H, R, gain=Ks)
    A = np.eye(4) - Ks @ H
    assert_normwise_close(Pj, A @ P @ A.T + Ks @ R @ Ks.T, jnp.float64, "Joseph")
    assert np.max(np.abs(np.asarray(Pj) - A @ P)) > 1e-3  # differs from (I - K H) P


# -- errors -------------------------------------------------------------------------------------


def test_clear_errors_before_tracing(kalman_problem):
    P, H, R = (np.asarray(a) for a in kalman_problem)
    with pytest.raises(ValueError, match="R must be symmetric: max"):
        kalman.gain(P, H, R + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match="R must be symmetric positive definite.*-"):
        kalman.gain(P, H, R - 20.0 * np.eye(3))
    with pytest.raises(ValueError, match="R must be symmetric positive definite"):
        kalman.gain(P, H, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"batch index \(1,\)"):
        kalman.gain(P, H, np.stack([R, -R]))
    with pytest.raises(ValueError, match=r"H \(observation matrix\) must be 3x4.*got 3x5"):
        kalman.gain(P, np.ones((3, 5)), R)
    with pytest.raises(ValueError, match=r"P \(prior covariance\) must be a square"):
        kalman.gain(np.ones((4, 3)), H, R)
    with pytest.raises(ValueError, match=r"z \(measurement\) must be a vector of length 3"):
        kalman.update(np.zeros(4), P, np.zeros(2), H, R)
    with pytest.raises(ValueError, match=r"x \(state\) must be a vector of length 4"):
        kalman.predict(np.zeros(3), P, np.eye(4), np.eye(4))
    with pytest.raises(ValueError, match="batch.*do not broadcast"):
        kalman.gain(np.stack([P, P]), H, np.stack([R, R, R]))
    with pytest.raises(ValueError, match=r"P contains 1 NaN and 0 Inf entries"):
        kalman.gain(np.where(np.arange(16).reshape(4, 4) == 5, np.nan, P), H, R)
    with pytest.raises(ValueError, match="P must be symmetric positive semi-definite"):
        kalman.gain(-P, H, R)
    with pytest.raises(ValueError, match="Q must be symmetric"):
        kalman.predict(np.zeros(4), P, np.eye(4), np.triu(np.ones((4, 4))))
    with pytest.raises(TypeError, match="floating"):
        kalman.gain(np.eye(2, dtype=int), np.eye(2, dtype=int), np.eye(2, dtype=int))


def test_jitted_calls_are_guarded(kalman_problem):
    P, H, R = kalman_problem
    gain = jax.jit(kalman.gain)
    assert gain(P, H, R).shape == (4, 3)
    with pytest.raises(Exception, match="R must be symmetric positive definite"):
        jax.block_until_ready(gain(P, H, R - 20.0 * jnp.eye(3)))
    with pytest.raises(Exception, match="R must be symmetric"):
        jax.block_until_ready(gain(P, H, R + jnp.triu(jnp.ones((3, 3)), 1)))


def test_jitted_calls_guard_definiteness_and_nan(kalman_problem):
    P, H, R = kalman_problem
    x, z = jnp.zeros(4), jnp.zeros(3)
    gain, update, predict = jax.jit(kalman.gain), jax.jit(kalman.update), jax.jit(kalman.predict)
    with pytest.raises(Exception, match="P must be symmetric positive semi-definite"):
        jax.block_until_ready(gain(-P, H, R))
    with pytest.raises(Exception, match="z contains NaN or Inf"):
        jax.block_until_ready(update(x, P, z.at[1].set(jnp.nan), H, R))
    with pytest.raises(Exception, match="H contains NaN or Inf"):
        jax.block_until_ready(gain(P, H.at[0, 0].set(jnp.inf), R))
    with pytest.raises(Exception, match="Q must be symmetric positive semi-definite"):
        jax.block_until_ready(predict(x, P, jnp.eye(4), -jnp.eye(4)))
    with pytest.raises(Exception, match="x contains NaN or Inf"):
        jax.block_until_ready(predict(x.at[0].set(jnp.nan), P, jnp.eye(4), jnp.eye(4)))
    x_pred, _ = predict(x, P, jnp.eye(4), jnp.eye(4))  # the guards pass good input through
    assert bool(jnp.all(jnp.isfinite(x_pred)))


@pytest.mark.parametrize("x64", [False, True], ids=["x64-off", "x64-on"])
def test_ill_conditioned_but_definite_R_is_accepted(x64):
    """R = diag(1, 1e-8) in float32: condition number 1e8 > 1/eps_32, still positive definite."""
    P = np.eye(2, dtype=np.float32)
    R = np.diag(np.array([1.0, 1e-8], np.float32))
    with jax.enable_x64(x64):
        K = kalman.gain(P, np.eye(2, dtype=np.float32), R)
        Kj = jax.jit(kalman.gain)(P, np.eye(2, dtype=np.float32), R)
    for k in (K, Kj):
        assert k.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(k), np.diag([0.5, 1 / (1 + 1e-8)]), rtol=1e-6)
    singular = np.diag([1.0, 1e-17])  # beyond the float64 test's resolution: refused, named
    with pytest.raises(ValueError, match="R must be symmetric positive definite.*condition"):
        kalman.gain(np.eye(2), np.eye(2), singular)


@pytest.mark.parametrize("half", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_is_refused_by_name(half):
    P = jnp.eye(2, dtype=half)
    with pytest.raises(TypeError, match=r"P is half precision.*float32"):
        kalman.gain(P, jnp.eye(2), jnp.eye(2))
    with pytest.raises(TypeError, match=r"z is half precision"):
        kalman.update(jnp.zeros(2), jnp.eye(2), jnp.zeros(2, half), jnp.eye(2), jnp.eye(2))


def test_non_arrays_and_empty_matrices_are_named():
    eye = np.eye(2)
    with pytest.raises(TypeError, match="P must be a floating-point array.*NoneType"):
        kalman.gain(None, eye, eye)
    with pytest.raises(TypeError, match="z must be a floating-point array.*str"):
        kalman.update(np.zeros(2), eye, "z", eye, eye)
    with pytest.raises(ValueError, match=r"P \(prior covariance\) is empty"):
        kalman.gain(np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0)))
    with pytest.raises(ValueError, match=r"Q \(process noise covariance\) must be 2x2"):
        kalman.predict(np.zeros(2), eye, eye, np.zeros((0, 0)))
