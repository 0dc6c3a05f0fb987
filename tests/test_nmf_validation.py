"""Bad input is refused early with names and shapes; zeros and dtypes are handled."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg

M, N, K = 12, 9, 3


@pytest.fixture(scope="module")
def V():
    return np.random.default_rng(0).random((M, N))


def test_negative_entries_count_and_first_index(V):
    bad = V.copy()
    bad[3, 4] = -0.5
    bad[7, 1] = -2.0
    with pytest.raises(ValueError, match=r"V has 2 negative entries \(first at index \(3, 4\)"):
        tg.nmf.fit(bad, K)
    batch = np.stack([V, bad])  # in a batch the index names the problem too
    with pytest.raises(ValueError, match=r"2 negative entries \(first at index \(1, 3, 4\)"):
        tg.nmf.fit(jnp.asarray(batch), K)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_refused(V, value):
    bad = V.copy()
    bad[2, 5] = value
    with pytest.raises(ValueError, match=r"NaN .* Inf entries \(first at index \(2, 5\)\)"):
        tg.nmf.fit(bad, K)


@pytest.mark.parametrize("rank", [0, -1, 2.5, True])
def test_bad_rank_names_the_shape(V, rank):
    with pytest.raises(ValueError, match=r"rank must be a positive integer.*shape 12x9"):
        tg.nmf.fit(V, rank)


def test_rank_above_min_dimension_warns_or_errors_for_nndsvd(V):
    with pytest.warns(UserWarning, match=r"rank 10 exceeds min\(M, N\) = 9"):
        r = tg.nmf.fit(V, 10, max_iter=20)
    assert r.W.shape == (M, 10)
    with pytest.raises(ValueError, match=r"init='nndsvda' needs rank <= min\(M, N\) = 9"):
        tg.nmf.fit(V, 10, init="nndsvda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.nmf.fit(V, 9, W0=np.ones((M, 9)), H0=np.ones((9, N)), max_iter=20)  # at the limit


def test_initial_factor_shapes_are_named(V):
    W0, H0 = np.ones((M, K)), np.ones((K, N))
    with pytest.raises(ValueError, match=r"W0 must be \(\.\.\., 12, 3\).*W0 \(shape 12x4\)"):
        tg.nmf.fit(V, K, W0=np.ones((M, 4)), H0=H0)
    with pytest.raises(ValueError, match=r"H0 \(shape 3x8\)"):
        tg.nmf.fit(V, K, W0=W0, H0=np.ones((K, N - 1)))
    with pytest.raises(ValueError, match="given together"):
        tg.nmf.fit(V, K, W0=W0)
    with pytest.raises(ValueError, match=r"batch axes of W0/H0 \(2\) must match those of V"):
        tg.nmf.fit(np.stack([V] * 3), K, W0=np.ones((2, M, K)), H0=np.ones((2, K, N)))
    with pytest.raises(ValueError, match=r"W0 has 3 negative entries \(first at index \(0, 0\)\)"):
        tg.nmf.fit(V, K, W0=-np.eye(M, K), H0=H0)
    with pytest.raises(ValueError, match="H0 is all zeros"):
        tg.nmf.fit(V, K, W0=W0, H0=np.zeros((K, N)))


def test_shapes_keys_and_options(V):
    with pytest.raises(ValueError, match=r"V must be a matrix .*\(shape 9\)"):
        tg.nmf.fit(V[0], K)
    with pytest.raises(ValueError, match="at least one row"):
        tg.nmf.fit(np.zeros((0, 4)), 1)
    with pytest.raises(ValueError, match=r"key batch shape 4 does not fit V of shape 2x12x9"):
        tg.nmf.fit(np.stack([V, V]), K, key=jax.random.split(jax.random.key(0), 4))
    with pytest.raises(TypeError, match="PRNG key"):
        tg.nmf.fit(V, K, key=np.ones(3))
    bad_options = [
        (dict(loss="l2"), "loss must be one of"),
        (dict(init="custom"), "init must be one of"),
        (dict(max_iter=0), "max_iter must be a positive integer"),
        (dict(tol=-1.0), "tol must be a finite number >= 0"),
        (dict(alpha_W=-0.1), "alpha_W must be"),
        (dict(alpha_H="other"), "alpha_H must be a number >= 0 or"),
        (dict(l1_ratio=1.5), r"l1_ratio must be in \[0, 1\]"),
    ]
    for kwargs, message in bad_options:
        with pytest.raises(ValueError, match=message):
            tg.nmf.fit(V, K, **kwargs)
    with pytest.raises(TypeError, match="float32 or float64"):
        tg.nmf.fit(V, K, dtype=jnp.float16)


@pytest.mark.parametrize("init", ["random", "nndsvd", "nndsvda", "nndsvdar"])
def test_zero_rows_columns_and_exact_zeros_under_kl(V, init):
    Z = V.copy()
    Z[Z < 0.3] = 0.0
    Z[2, :] = 0.0
    Z[:, 5] = 0.0
    r = tg.nmf.fit(Z, K, loss="kl", init=init, max_iter=60)
    for x in (r.W, r.H, r.loss_history[: int(r.n_iter) // 10 + 1], r.loss):
        assert np.all(np.isfinite(np.asarray(x)))  # (history after a stop is NaN padding)
    np.testing.assert_array_equal(r.W[2], 0.0)  # nothing to explain in a zero row
    np.testing.assert_array_equal(r.H[:, 5], 0.0)
    assert float(r.loss) < float(r.loss_history[0])


def test_all_zero_v_gives_zeros_not_nan():
    # the module's shapes: the compiled program of the KL test above (init="random")
    r = tg.nmf.fit(np.zeros((M, N)), K, loss="kl", max_iter=20)
    assert np.all(np.asarray(r.W) == 0) and float(r.loss) == 0.0


def test_dtypes(V):
    r32 = tg.nmf.fit(V.astype(np.float32), K, max_iter=20)
    assert r32.W.dtype == r32.H.dtype == r32.loss.dtype == jnp.float32
    r64 = tg.nmf.fit(V.astype(np.float32), K, max_iter=20, dtype=jnp.float64)
    assert r64.W.dtype == jnp.float64
    counts = tg.nmf.fit(np.arange(M * N).reshape(M, N) % 5, K, max_iter=20)  # int counts
    assert jnp.issubdtype(counts.W.dtype, jnp.floating)
    with jax.enable_x64(False):  # float64 asked for without x64: honoured, scoped
        r = tg.nmf.fit(V, K, max_iter=20, dtype=np.float64)
        assert r.W.dtype == np.float64
        assert jnp.zeros(1).dtype == jnp.float32  # and the global setting is untouched


def test_fit_under_user_jit_skips_value_checks_but_runs(V):
    eager = tg.nmf.fit(V, K, max_iter=20)
    jitted = jax.jit(lambda v: tg.nmf.fit(v, K, max_iter=20).W)(V)
    np.testing.assert_allclose(jitted, eager.W, rtol=1e-12)
