"""Masked (weighted) NMF: entries with mask 0 have no influence on the fit."""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import REGISTRY_LOSSES

import tracegrad as tg

M, N, K = 12, 9, 3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    V = rng.random((M, K)) @ rng.random((K, N)) + 0.05 * rng.random((M, N))
    mask = (rng.random((M, N)) < 0.7).astype(np.float64)
    mask[0, :] = 0.0  # a fully unobserved row
    W0 = rng.random((M, K)) + 0.1
    H0 = rng.random((K, N)) + 0.1
    return V, mask, W0, H0


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_masked_entries_do_not_influence_the_fit(data, loss):
    V, mask, W0, H0 = data
    a = tg.nmf.fit(V, K, loss=loss, mask=mask, W0=W0, H0=H0, max_iter=60)
    V2 = V.copy()
    hidden = mask == 0
    V2[hidden] = np.random.default_rng(5).random(int(hidden.sum())) * 100.0  # anything at all
    V2[1, 2] = np.nan if hidden[1, 2] else V2[1, 2]
    V3 = np.where(hidden, -7.0, V)  # even negative or NaN values are ignored where masked
    V3[hidden.nonzero()[0][0], hidden.nonzero()[1][0]] = np.nan
    for Vx in (V2, V3):
        b = tg.nmf.fit(Vx, K, loss=loss, mask=mask, W0=W0, H0=H0, max_iter=60)
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.H, b.H)
        np.testing.assert_array_equal(a.loss_history, b.loss_history)
    # ... while changing an observed entry does change it
    V4 = V.copy()
    V4[~hidden] *= 1.5
    c = tg.nmf.fit(V4, K, loss=loss, mask=mask, W0=W0, H0=H0, max_iter=60)
    assert not np.allclose(a.W, c.W)


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_all_ones_mask_is_the_unmasked_fit(data, loss):
    V, _, W0, H0 = data
    a = tg.nmf.fit(V, K, loss=loss, mask=np.ones_like(V), W0=W0, H0=H0, max_iter=60)
    b = tg.nmf.fit(V, K, loss=loss, W0=W0, H0=H0, max_iter=60)
    assert int(a.n_iter) == int(b.n_iter)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-9)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-9)


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_masked_loss_counts_observed_entries_only(data, loss):
    V, mask, W0, H0 = data
    r = tg.nmf.fit(V, K, loss=loss, mask=mask, W0=W0, H0=H0, max_iter=60)
    W, H = np.asarray(r.W), np.asarray(r.H)
    WH = W @ H
    obs = mask == 1
    if loss == "frobenius":
        d = 0.5 * np.sum((V - WH)[obs] ** 2)
    else:
        d = np.sum(V[obs] * np.log(V[obs] / WH[obs]) - V[obs] + WH[obs])
    assert float(r.loss) == pytest.approx(np.sqrt(2 * d), rel=1e-10)
    # the unobserved row of W is driven to zero: nothing there to fit
    np.testing.assert_array_equal(W[0], 0.0)


def test_masked_fit_recovers_hidden_entries():
    """Missing-data use: an exact low-rank matrix with 30% hidden is completed."""
    rng = np.random.default_rng(3)
    V = rng.random((20, 3)) @ rng.random((3, 15)) + 0.1
    mask = (rng.random(V.shape) < 0.7).astype(float)
    r = tg.nmf.fit(V * mask, 3, mask=mask, max_iter=2000, tol=1e-9, init="nndsvda")
    WH = np.asarray(r.W @ r.H)
    hidden = mask == 0
    assert np.max(np.abs(WH[hidden] - V[hidden])) / np.max(V) < 0.05


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_padded_and_masked_batch_equals_the_unpadded_fits(loss):
    """Problems of different sizes padded with zero rows and masked (as the CLI does with the
    digit classes) fit exactly like the unpadded problems: padded rows of W go to zero at the
    first update and contribute nothing afterwards."""
    rng = np.random.default_rng(4)
    rows = (M, 7)  # the unpadded M-row fit is the program of test_all_ones_mask_...
    V = np.zeros((2, M, N))
    mask = np.zeros_like(V)
    W0 = rng.random((2, M, K)) + 0.1  # padded rows start non-zero on purpose
    H0 = rng.random((2, K, N)) + 0.1
    for i, r in enumerate(rows):
        V[i, :r] = rng.random((r, N))
        mask[i, :r] = 1.0
    fit = tg.nmf.fit(V, K, loss=loss, mask=mask, W0=W0, H0=H0, max_iter=60)
    np.testing.assert_array_equal(fit.W[1, rows[1] :], 0.0)
    for i, r in enumerate(rows):
        small = tg.nmf.fit(V[i, :r], K, loss=loss, W0=W0[i, :r], H0=H0[i], max_iter=60)
        assert int(fit.n_iter[i]) == int(small.n_iter)
        np.testing.assert_allclose(fit.W[i, :r], small.W, rtol=1e-9)
        np.testing.assert_allclose(fit.H[i], small.H, rtol=1e-9)


def test_mask_shape_and_values_are_checked(data):
    V, mask, _, _ = data
    with pytest.raises(ValueError, match=r"mask must have V's shape: mask \(shape 12x8\)"):
        tg.nmf.fit(V, K, mask=mask[:, :-1])
    bad = mask.copy()
    bad[2, 3] = 0.5
    with pytest.raises(ValueError, match=r"only 0 and 1.*index \(2, 3\)"):
        tg.nmf.fit(V, K, mask=bad)
    with pytest.raises(ValueError, match="hides every entry"):
        tg.nmf.fit(V, K, mask=np.zeros_like(V))
    observed_nan = V.copy()
    observed_nan[np.argwhere(mask == 1)[0][0], np.argwhere(mask == 1)[0][1]] = np.nan
    with pytest.raises(ValueError, match="NaN .* where the mask is 1"):
        tg.nmf.fit(observed_nan, K, mask=mask)


def test_boolean_mask_accepted(data):
    V, mask, W0, H0 = data
    a = tg.nmf.fit(V, K, mask=mask.astype(bool), W0=W0, H0=H0, max_iter=60)
    b = tg.nmf.fit(V, K, mask=mask, W0=W0, H0=H0, max_iter=60)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.W.dtype == jnp.float64
