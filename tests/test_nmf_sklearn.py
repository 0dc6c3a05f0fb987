"""tracegrad.nmf reproduces scikit-learn's MU solver: iterates, stopping, losses and inits."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition._nmf import _beta_divergence, _initialize_nmf

import tracegrad as tg

SKLEARN_RTOL = 1e-6
"""The issue's contract: float64 iterates agree with scikit-learn to 1e-6 (normwise relative).
Both sides run the same formulas in a different operation order, so the observed gap is
~1e-14; 1e-6 leaves room for the rounding to grow over 200 iterations."""

M, N, K = 12, 9, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    V = rng.random((M, N))
    V[V < 0.2] = 0.0  # exact zeros: KL's V <= EPSILON rule
    V[4, :] = 0.0  # an all-zero row
    V[:, 6] = 0.0  # and column
    W0 = rng.random((M, K)) + 0.1
    H0 = rng.random((K, N)) + 0.1
    return V, W0, H0


def _sklearn(V, W0, H0, loss, max_iter, tol, alpha_W, alpha_H, l1_ratio):
    sk = SkNMF(
        K,
        init="custom",
        solver="mu",
        beta_loss=loss,
        max_iter=max_iter,
        tol=tol,
        alpha_W=alpha_W,
        alpha_H=alpha_H,
        l1_ratio=l1_ratio,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        W = sk.fit_transform(V, W=W0.copy(), H=H0.copy())
    return W, sk.components_, sk.n_iter_, sk.reconstruction_err_


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


REGULARISATION = [
    (0.0, "same", 0.0),
    (0.1, "same", 0.0),  # L2 on both
    (0.05, 0.2, 0.5),  # mixed, different alphas
    (0.05, "same", 1.0),  # pure L1
    (0.1, 0.0, 0.0),  # W only
]


@pytest.mark.parametrize("loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize(("alpha_W", "alpha_H", "l1_ratio"), REGULARISATION)
@pytest.mark.parametrize(("max_iter", "tol"), [(1, 1e-4), (7, 1e-4), (200, 1e-4), (200, 0.0)])
def test_iterates_match_sklearn(problem, loss, alpha_W, alpha_H, l1_ratio, max_iter, tol):
    V, W0, H0 = problem
    W_sk, H_sk, n_sk, err_sk = _sklearn(V, W0, H0, loss, max_iter, tol, alpha_W, alpha_H, l1_ratio)
    r = tg.nmf.fit(
        V,
        K,
        loss=loss,
        max_iter=max_iter,
        tol=tol,
        W0=W0,
        H0=H0,
        alpha_W=alpha_W,
        alpha_H=alpha_H,
        l1_ratio=l1_ratio,
    )
    assert int(r.n_iter) == n_sk
    assert _rel(r.W, W_sk) < SKLEARN_RTOL
    assert _rel(r.H, H_sk) < SKLEARN_RTOL
    assert abs(float(r.loss) - err_sk) <= SKLEARN_RTOL * err_sk
    assert not np.any(np.isnan(np.asarray(r.W)))
    # converged means the relative-decrease test passed, which sklearn signals by stopping
    # before max_iter (or exactly at a check, which these settings avoid).
    assert bool(r.converged) == (tol > 0 and n_sk < max_iter)


@pytest.mark.parametrize("loss", ["frobenius", "kullback-leibler"])
def test_loss_history_is_sklearn_error_at_each_check(problem, loss):
    """loss_history[j] is sklearn's square-root error after 10 j iterations (j = 0: the init)."""
    V, W0, H0 = problem
    r = tg.nmf.fit(V, K, loss=loss, max_iter=60, tol=0.0, W0=W0, H0=H0)
    hist = np.asarray(r.loss_history)
    assert hist.shape == (7,)
    assert hist[0] == pytest.approx(_beta_divergence(V, W0, H0, loss, square_root=True), rel=1e-12)
    for j in (1, 3, 6):
        W, H, _, err = _sklearn(V, W0, H0, loss, 10 * j, 0.0, 0.0, "same", 0.0)
        assert hist[j] == pytest.approx(err, rel=SKLEARN_RTOL)
    assert float(r.loss) == pytest.approx(hist[-1], rel=1e-12)


def test_history_is_nan_after_stopping(problem):
    V, W0, H0 = problem
    r = tg.nmf.fit(V, K, max_iter=200, tol=1e-2, W0=W0, H0=H0)
    n = int(r.n_iter)
    assert bool(r.converged) and n < 200 and n % 10 == 0
    hist = np.asarray(r.loss_history)
    assert np.all(np.isfinite(hist[: n // 10 + 1]))
    assert np.all(np.isnan(hist[n // 10 + 1 :]))


def test_float32_stays_float32_and_tracks_sklearn(problem):
    V, W0, H0 = (x.astype(np.float32) for x in problem)
    r = tg.nmf.fit(V, K, loss="kl", max_iter=10, tol=0.0, W0=W0, H0=H0)
    assert r.W.dtype == r.H.dtype == r.loss_history.dtype == jnp.float32
    W_sk, H_sk, _, _ = _sklearn(V, W0, H0, "kullback-leibler", 10, 0.0, 0.0, "same", 0.0)
    assert W_sk.dtype == np.float32
    rtol = tg.default_rtol(jnp.float32)
    assert _rel(r.W, W_sk) < rtol
    assert _rel(r.H, H_sk) < rtol


# --------------------------------------------------------------------------------------------
# initialisation


_init = jax.jit(tg.nmf.init_factors, static_argnums=(1, 2))  # one compile per scheme and rank


@pytest.fixture(scope="module")
def low_rank():
    """A positive rank-5 matrix: scikit-learn's randomized SVD is exact on it (rank <= K + 10),
    so its NNDSVD and ours (exact SVD) must coincide."""
    rng = np.random.default_rng(1)
    return rng.random((30, 5)) @ rng.random((5, 22))


@pytest.mark.parametrize("init", ["nndsvd", "nndsvda"])
@pytest.mark.parametrize("rank", [1, 4])
def test_nndsvd_matches_sklearn(low_rank, init, rank):
    W_sk, H_sk = _initialize_nmf(low_rank, rank, init=init, random_state=0)
    W, H = _init(jnp.asarray(low_rank), rank, init, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(W), W_sk, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.asarray(H), H_sk, rtol=1e-8, atol=1e-10)


def test_nndsvdar_keeps_nndsvd_and_fills_zeros_small(low_rank):
    W_d, H_d = _initialize_nmf(low_rank, 4, init="nndsvd")
    assert (W_d == 0).any() and (H_d == 0).any()  # the fill is exercised
    W, H = (np.asarray(x) for x in _init(jnp.asarray(low_rank), 4, "nndsvdar", jax.random.key(3)))
    mean = low_rank.mean()
    for ours, det in ((W, W_d), (H, H_d)):
        np.testing.assert_allclose(ours[det != 0], det[det != 0], rtol=1e-8)
        fill = ours[det == 0]
        assert np.all(fill > 0) and np.all(fill < mean)  # |mean z| / 100 for |z| < 100


def test_random_init_is_scaled_like_sklearn():
    """``avg |N(0,1)|`` with ``avg = sqrt(mean(V) / K)``: exactly that formula on our key, and
    the same distribution as scikit-learn's draw (compared through the sample means)."""
    rng = np.random.default_rng(2)
    V = 3.0 * rng.random((400, 300))
    K_ = 6
    W, H = _init(jnp.asarray(V), K_, "random", jax.random.key(5))
    avg = np.sqrt(V.mean() / K_)
    k_h, k_w = jax.random.split(jax.random.key(5))
    np.testing.assert_allclose(W, avg * np.abs(jax.random.normal(k_w, (400, K_))), rtol=1e-12)
    np.testing.assert_allclose(H, avg * np.abs(jax.random.normal(k_h, (K_, 300))), rtol=1e-12)
    W_sk, H_sk = _initialize_nmf(V, K_, init="random", random_state=0)
    for ours, theirs in ((W, W_sk), (H, H_sk)):
        assert float(np.mean(ours)) == pytest.approx(float(np.mean(theirs)), rel=0.05)
        assert float(np.mean(ours)) == pytest.approx(avg * np.sqrt(2 / np.pi), rel=0.05)


def test_fit_with_init_scheme_matches_sklearn_fit(low_rank):
    """End to end: our NNDSVDa init plus MU equals sklearn's NMF(init="nndsvda")."""
    sk = SkNMF(3, init="nndsvda", solver="mu", beta_loss="kullback-leibler", max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W_sk = sk.fit_transform(low_rank)
    r = tg.nmf.fit(low_rank, 3, loss="kl", init="nndsvda", max_iter=40)
    assert int(r.n_iter) == sk.n_iter_
    assert _rel(r.W, W_sk) < SKLEARN_RTOL
    assert _rel(r.H, sk.components_) < SKLEARN_RTOL
