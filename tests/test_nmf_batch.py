"""A batch is a loop of single fits, each converging on its own; replicates share one V."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import REGISTRY_LOSSES

import tracegrad as tg

M, N, K = 12, 9, 3
BATCH_RTOL = 1e-9
"""Batch and single fits run the same updates, but products of different layouts (the single
fit keeps V^T; batched matmuls block differently), so float64 rounding differs by ~1e-16 per
step; 1e-9 bounds its growth over the iterations used here."""


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    # different scales and noise levels, so the problems converge at different iterations
    V = np.stack([s * (rng.random((M, K)) @ rng.random((K, N)) + n * rng.random((M, N)))
                  for s, n in ((1.0, 0.3), (5.0, 0.01), (0.2, 1.0))])  # fmt: skip
    return V


@pytest.fixture(scope="module")
def keys():
    return jax.random.split(jax.random.key(42), 3)


def _assert_same_fit(a, b, rtol=BATCH_RTOL):
    assert int(a.n_iter) == int(b.n_iter)
    assert bool(a.converged) == bool(b.converged)
    for x, y in ((a.W, b.W), (a.H, b.H)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * float(jnp.max(jnp.abs(y))))
    np.testing.assert_allclose(a.loss_history, b.loss_history, rtol=rtol)


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_batch_equals_loop_of_singles(batch, keys, loss):
    r = tg.nmf.fit(batch, K, loss=loss, key=keys, max_iter=150, tol=5e-3)
    assert r.W.shape == (3, M, K) and r.H.shape == (3, K, N)
    assert r.loss_history.shape == (3, 16) and r.n_iter.shape == (3,)
    assert len(set(np.asarray(r.n_iter).tolist())) > 1  # each stopped on its own
    assert bool(np.all(r.converged)) and int(np.max(r.n_iter)) < 150
    for i in range(3):
        single = tg.nmf.fit(batch[i], K, loss=loss, key=keys[i], max_iter=150, tol=5e-3)
        _assert_same_fit(jax.tree.map(lambda x, i=i: x[i], r), single)


def test_one_key_is_split_over_the_batch(batch):
    # KL: the batch with one typed key is the program of test_same_key_..., the singles those
    # of test_batch_equals_loop_of_singles[kl] (key splitting does not depend on the loss)
    key = jax.random.key(7)
    r = tg.nmf.fit(batch, K, loss="kl", key=key, max_iter=150)
    for i, k in enumerate(jax.random.split(key, 3)):
        _assert_same_fit(
            jax.tree.map(lambda x, i=i: x[i], r),
            tg.nmf.fit(batch[i], K, loss="kl", key=k, max_iter=150),
        )


def test_two_batch_axes_and_custom_factors(batch):
    # Frobenius: the single fit is the program of test_shared_initial_factors_... and
    # test_chunked_...[frobenius] (the batch axes are handled before the loss is involved)
    V = np.stack([batch, batch[::-1]])  # (2, 3, M, N)
    rng = np.random.default_rng(1)
    W0 = rng.random((2, 3, M, K)) + 0.1
    H0 = rng.random((2, 3, K, N)) + 0.1
    r = tg.nmf.fit(V, K, W0=W0, H0=H0, max_iter=60)
    assert r.W.shape == (2, 3, M, K) and r.n_iter.shape == (2, 3)
    flat = tg.nmf.fit(V.reshape(6, M, N), K, W0=W0.reshape(6, M, K),
                      H0=H0.reshape(6, K, N), max_iter=60)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(r.W).reshape(6, M, K), flat.W)
    one = tg.nmf.fit(V[1, 2], K, W0=W0[1, 2], H0=H0[1, 2], max_iter=60)
    _assert_same_fit(jax.tree.map(lambda x: x[1, 2], r), one)


def test_shared_initial_factors_broadcast_over_the_batch(batch):
    rng = np.random.default_rng(2)
    W0, H0 = rng.random((M, K)) + 0.1, rng.random((K, N)) + 0.1
    r = tg.nmf.fit(batch, K, W0=W0, H0=H0, max_iter=60)
    _assert_same_fit(
        jax.tree.map(lambda x: x[2], r), tg.nmf.fit(batch[2], K, W0=W0, H0=H0, max_iter=60)
    )


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_replicates_are_independent_restarts_and_best_picks_lowest(batch, loss):
    V = batch[2]
    keys = jax.random.split(jax.random.key(0), 5)
    r = tg.nmf.fit(V, K, loss=loss, key=keys, max_iter=60)
    assert r.W.shape == (5, M, K)
    assert len({round(float(x), 12) for x in r.loss}) == 5  # different inits, different fits
    for i in (0, 3):
        _assert_same_fit(jax.tree.map(lambda x, i=i: x[i], r),
                         tg.nmf.fit(V, K, loss=loss, key=keys[i], max_iter=60))  # fmt: skip
    best = r.best()
    i = int(np.argmin(r.loss))
    assert best.W.shape == (M, K) and best.loss_history.shape == r.loss_history.shape[1:]
    np.testing.assert_array_equal(best.W, r.W[i])
    assert float(best.loss) == float(np.min(r.loss))


@pytest.mark.internals  # a spy on the compiled program: what it is passed
def test_replicates_pass_v_unbatched_into_the_compiled_loop(batch):
    """V is handed to the compiled program as one (M, N) array, not R copies."""
    from tracegrad.nmf import _execute

    seen = []
    real = _execute.program

    def spy(V, *args, **kw):
        seen.append(V.shape)
        return real(V, *args, **kw)

    _execute.program = spy
    try:
        tg.nmf.fit(batch[0], K, key=jax.random.split(jax.random.key(0), 5), max_iter=60)
    finally:
        _execute.program = real
    assert seen == [(M, N)]


def test_best_ignores_nan_and_works_per_axis():
    r = tg.nmf.NMFResult(
        W=jnp.arange(4.0).reshape(2, 2, 1, 1),
        H=jnp.zeros((2, 2, 1, 1)),
        loss_history=jnp.zeros((2, 2, 3)),
        n_iter=jnp.zeros((2, 2), jnp.int32),
        converged=jnp.zeros((2, 2), bool),
        loss=jnp.array([[jnp.nan, 2.0], [1.0, 3.0]]),
    )
    b = r.best(axis=0)
    np.testing.assert_array_equal(b.loss, [1.0, 2.0])
    np.testing.assert_array_equal(b.W[:, 0, 0], [2.0, 1.0])
    with pytest.raises(ValueError, match="batch axis"):
        r.best(axis=2)


def test_same_key_bit_identical_other_key_different(batch):
    a = tg.nmf.fit(batch, K, loss="kl", key=jax.random.key(3), max_iter=150)
    b = tg.nmf.fit(batch, K, loss="kl", key=jax.random.key(3), max_iter=150)
    c = tg.nmf.fit(batch, K, loss="kl", key=jax.random.key(4), max_iter=150)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.H, b.H)
    assert not np.allclose(a.W, c.W)
    # an int seed and a raw uint32 key mean the same typed key
    d = tg.nmf.fit(batch, K, loss="kl", key=3, max_iter=150)
    e = tg.nmf.fit(batch, K, loss="kl", key=jax.random.PRNGKey(3), max_iter=150)
    np.testing.assert_array_equal(a.W, d.W)
    np.testing.assert_array_equal(a.W, e.W)


@pytest.mark.internals  # the batch layout rule, at workloads too big to run
def test_layout_rule_on_the_issue_workloads():
    """Cache-sized chunks for Frobenius batches, whole batches for KL's larger working set,
    V^T for a single problem only, and nothing CPU-specific on other backends."""
    from tracegrad.nmf._layout import plan

    assert plan(True, 64, 257, 200, 4, "frobenius", False, "cpu").chunk == 4
    assert plan(True, 64, 257, 200, 4, "kl", False, "cpu").chunk == 64
    assert plan(False, 1, 1024, 1024, 4, "kl", False, "cpu").transposed
    replicates = plan(False, 16, 1024, 1024, 4, "frobenius", False, "cpu")
    assert not replicates.transposed and replicates.chunk == 16
    gpu = plan(True, 64, 257, 200, 4, "frobenius", False, "gpu")
    assert gpu.chunk == 64 and not gpu.transposed


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
@pytest.mark.internals  # the chunk size, made small to force a remainder chunk
def test_chunked_batch_with_remainder_equals_singles(monkeypatch, loss):
    """A batch of 7 split into chunks of 2 (three chunks and a remainder of one).  The module's
    M, N, K: the single fits reuse the programs of the other custom-factor tests."""
    from tracegrad.nmf import _layout

    rng = np.random.default_rng(5)
    V = rng.random((7, M, N)) + 0.01 * np.arange(7)[:, None, None]
    masked = loss == "kl"  # the masked path through the chunks too
    mask = (rng.random(V.shape) < 0.8).astype(float) if masked else None
    live = _layout.live_arrays(loss, masked)
    monkeypatch.setattr(_layout, "CHUNK_BYTES", 2 * live * M * N * 8)
    assert _layout.plan(True, 7, M, N, 8, loss, masked, "cpu").chunk == 2
    W0 = rng.random((7, M, K)) + 0.1
    H0 = rng.random((7, K, N)) + 0.1
    calls = []
    r = tg.nmf.fit(V, K, loss=loss, W0=W0, H0=H0, mask=mask, max_iter=60, tol=1e-3,
                   progress=lambda d, l: calls.append(d))  # fmt: skip
    for i in (0, 3, 6):
        single = tg.nmf.fit(V[i], K, loss=loss, W0=W0[i], H0=H0[i], max_iter=60, tol=1e-3,
                            mask=None if mask is None else mask[i])  # fmt: skip
        _assert_same_fit(jax.tree.map(lambda x, i=i: x[i], r), single)
    assert calls == sorted(calls) and 0 < calls[0] and calls[-1] <= 60  # steady progress


@pytest.mark.internals  # the worker groups, for batch sizes not run
def test_worker_groups_cover_the_batch_in_order():
    from tracegrad.nmf._workers import groups

    for n, w in ((7, 2), (64, 2), (3, 8), (5, 5), (1, 4)):
        gs = groups(n, w)
        assert len(gs) == min(n, w)
        assert [i for g in gs for i in range(n)[g]] == list(range(n))
        sizes = [g.stop - g.start for g in gs]
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.internals  # the worker-count rule, at sizes not run
def test_workers_rule():
    from tracegrad.nmf._layout import MIN_WORKER_MNK, workers

    big = (257, 200, 16)
    assert workers(64, *big, "cpu", 2) == 2
    assert workers(3, *big, "cpu", 16) == 3
    assert workers(64, *big, "gpu", 2) == 1
    assert workers(1, *big, "cpu", 2) == 1
    assert workers(64, *big, "cpu", 1) == 1
    assert workers(64, 8, 8, 2, "cpu", 2) == 1 and 8 * 8 * 2 < MIN_WORKER_MNK


@pytest.mark.parametrize(
    ("loss", "replicates"),
    [("frobenius", False), ("kl", True)],
    ids=["batch-frobenius", "replicates-kl"],
)
@pytest.mark.internals  # the CPU worker count and a spy on the compiled program
def test_concurrent_worker_groups_equal_one_loop(monkeypatch, loss, replicates):
    """Groups of problems fitted in threads give the one-loop result (to the last ulps).

    Each layout and each loss once, not their product: the grouping (``_fit``/``_workers``)
    slices problems and keys before the loss is involved, so the other two pairs ran the same
    grouping code (and cost four more compiled programs)."""
    from tracegrad.nmf import _execute, _fit

    rng = np.random.default_rng(1)
    m, n, k, b = 40, 31, 16, 5  # m n k >= MIN_WORKER_MNK; 5 problems: groups of 2 and 3
    V = rng.random((m, n)) if replicates else rng.random((b, m, n))
    kw = dict(loss=loss, max_iter=40, tol=1e-3, key=jax.random.split(jax.random.key(3), b))
    calls = []
    real_program = _execute.program

    def counting_program(*args, **kwargs):
        calls.append(kwargs["plan"].group)
        return real_program(*args, **kwargs)

    monkeypatch.setattr(_execute, "program", counting_program)
    monkeypatch.setattr(_fit, "cpu_workers", lambda: 2)
    split = tg.nmf.fit(V, k, **kw)
    # two groups of 3 run by the worker threads, the second one clamped to problems 2..4
    assert calls == [3, 3]
    monkeypatch.setattr(_fit, "cpu_workers", lambda: 1)
    whole = tg.nmf.fit(V, k, **kw)
    assert calls[-1] == b
    np.testing.assert_array_equal(split.n_iter, whole.n_iter)
    np.testing.assert_array_equal(split.converged, whole.converged)
    for x, y in ((split.W, whole.W), (split.H, whole.H), (split.loss_history, whole.loss_history)):
        # the same updates; XLA may order a reduction differently for another batch size
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-13, atol=0)
    assert split.W.shape == (b, m, k)


@pytest.mark.internals  # the CPU worker count and a spy on the compiled program
def test_progress_from_concurrent_groups_is_one_monotone_stream(monkeypatch):
    from tracegrad.nmf import _execute, _fit

    monkeypatch.setattr(_fit, "cpu_workers", lambda: 2)
    calls = []
    real = _execute.program
    monkeypatch.setattr(_execute, "program", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(2)
    V = rng.random((4, 40, 31))
    seen = []
    result = tg.nmf.fit(V, 16, max_iter=50, tol=0.0, progress=lambda d, l: seen.append((d, l)))
    assert len(calls) == 2  # progress on, still two concurrent groups
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 50 and len(seen) >= 5
    assert all(np.isfinite(l) and l > 0 for _, l in seen)
    # the last report is the mean final loss over all four problems, not one group's
    np.testing.assert_allclose(seen[-1][1], float(jnp.mean(result.loss)), rtol=1e-12)


@pytest.mark.internals  # the groups' progress combiner, fed made-up reports
def test_group_progress_reports_the_slowest_group_and_the_weighted_mean():
    from tracegrad.nmf._workers import GroupProgress

    out = []
    combined = GroupProgress([1, 3], lambda d, l: out.append((d, l)))
    a, b = combined.reporter(0), combined.reporter(1)
    a(10, 4.0)
    b(10, 2.0)
    a(20, 2.0)
    b(20, 1.0)
    assert out == [(0, 4.0), (10, 2.5), (10, 2.0), (20, 1.25)]
