"""Data at the top of float32's range: the rescaling must not underflow to zero.

``fit`` computes on ``V / 4^k``; for data near 3e38 the ``k`` that brings the largest entry
near 1 is 64, and ``4^-64`` is below float32's smallest normal number (XLA flushes it to 0):
``k`` is clamped to 63, which leaves the largest entry near 4.
"""

import warnings

import numpy as np

import tracegrad as tg


def test_float32_data_near_its_largest_value_is_fitted_not_zeroed():
    rng = np.random.default_rng(0)
    V = (rng.random((12, 9)) * 3e38).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = tg.nmf.fit(V, 3, max_iter=30, key=0)
    W, H = np.asarray(r.W, np.float64), np.asarray(r.H, np.float64)
    assert np.all(np.isfinite(W)) and np.all(np.isfinite(H)) and np.max(W) > 0
    # the true loss (about 4e38 here, float64 below) exceeds float32: it reads inf, with a
    # warning, never 0
    V64 = V.astype(np.float64)
    truth = np.linalg.norm(V64 - W @ H)
    assert truth > float(np.finfo(np.float32).max)
    assert float(r.loss) == np.inf
    assert any("exceeds float32's range" in str(w.message) for w in caught)
    # the factors fit (a float64 fit of the same data, from its own start, as a yardstick)
    r64 = tg.nmf.fit(V64, 3, max_iter=30, key=0, dtype=np.float64)
    assert truth < 0.7 * np.linalg.norm(V64)
    assert truth < 1.5 * float(r64.loss)
