"""Loss and solver objects: the beta family and HALS against scikit-learn, update_H=False and
transform, monotone decrease, compile counts, and a walk over every LOSSES x SOLVERS entry."""

import warnings

import numpy as np
import pytest
from helpers import BASE_SOLVERS
from sklearn.decomposition import NMF as SkNMF

import tracegrad as tg
from tracegrad.nmf import LOSSES, SOLVERS

SKLEARN_RTOL = 1e-6
"""As tests/test_nmf_sklearn.py: float64 iterates agree to 1e-6 normwise (observed ~1e-14)."""

M, N, K = 12, 9, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    V = rng.random((M, N))
    V[V < 0.2] = 0.0  # exact zeros
    W0 = rng.random((M, K)) + 0.1
    H0 = rng.random((K, N)) + 0.1
    return V, W0, H0


def _sk(V, W0, H0, **kw):
    sk = SkNMF(K, init="custom", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        W = sk.fit_transform(V, W=W0.copy(), H=H0.copy())
    return sk, W


def _rel(a, b):
    b = np.asarray(b)
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


# beta, penalty (alpha_W, alpha_H, l1_ratio); beta 1 and 2 are tests/test_nmf_sklearn.py's
BETAS = [
    (0.0, (0.0, "same", 0.0)),
    (0.5, (0.05, 0.2, 0.5)),
    (1.5, (0.0, "same", 0.0)),
    (3.0, (0.02, "same", 0.0)),
]


@pytest.mark.parametrize(("beta", "reg"), BETAS)
def test_beta_mu_matches_sklearn(problem, beta, reg):
    V, W0, H0 = problem
    if beta <= 0:
        V = V + 0.05  # IS needs V > 0
    alpha_W, alpha_H, l1_ratio = reg
    pen = dict(alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio)
    sk, W_sk = _sk(V, W0, H0, solver="mu", beta_loss=beta, max_iter=200, tol=1e-4, **pen)
    r = tg.nmf.fit(V, K, loss=beta, W0=W0, H0=H0, max_iter=200, tol=1e-4, **pen)
    assert int(r.n_iter) == sk.n_iter_
    assert _rel(r.W, W_sk) < SKLEARN_RTOL
    assert _rel(r.H, sk.components_) < SKLEARN_RTOL
    assert float(r.loss) == pytest.approx(sk.reconstruction_err_, rel=SKLEARN_RTOL)
    assert r.loss_type == LOSSES["is"].name if beta == 0 else r.loss_type == beta


@pytest.mark.internals  # how a name or a float resolves to a loss object: fit only uses it
def test_loss_names_aliases_and_betas():
    from tracegrad.nmf._losses import resolve_loss

    assert resolve_loss("is") is LOSSES["itakura-saito"] is resolve_loss(0.0)
    assert resolve_loss(2) is LOSSES["frobenius"] and resolve_loss(1.0) is LOSSES["kl"]
    assert resolve_loss("kullback-leibler") is LOSSES["kl"]
    assert resolve_loss(1.5) == resolve_loss(1.5) and resolve_loss(1.5).gamma == 1.0
    assert resolve_loss(3.0).gamma == 0.5 and resolve_loss(-1.0).gamma == pytest.approx(1 / 3)
    for bad in ("l2", ["kl"], float("nan"), True, None):
        with pytest.raises(ValueError, match=r"loss must be one of 'frobenius'.*'is'"):
            tg.nmf.fit(np.ones((3, 2)), 1, loss=bad)
    with pytest.raises(ValueError, match=r"solver must be one of 'auto', 'mu', 'hals'"):
        tg.nmf.fit(np.ones((3, 2)), 1, solver="cd")


def test_nonpositive_beta_refuses_zeros_unless_masked(problem):
    V, W0, H0 = problem
    for loss in ("itakura-saito", -0.5):
        with pytest.raises(ValueError, match=r"needs V > 0, but V contains \d+ zeros"):
            tg.nmf.fit(V, K, loss=loss, W0=W0, H0=H0)
    mask = (V > 0).astype(float)  # the zeros hidden: fine
    r = tg.nmf.fit(V, K, loss="is", W0=W0, H0=H0, mask=mask, max_iter=20)
    assert np.isfinite(float(r.loss))


def test_beta_mask_ignores_hidden_entries(problem):
    V, W0, H0 = problem
    mask = np.ones_like(V)
    mask[::3, ::2] = 0.0
    kw = dict(loss=1.5, W0=W0, H0=H0, max_iter=30, tol=0.0)
    a = tg.nmf.fit(V, K, mask=mask, **kw)
    b = tg.nmf.fit(np.where(mask == 0, 7.0, V), K, mask=mask, **kw)
    np.testing.assert_array_equal(a.W, b.W)
    full = tg.nmf.fit(V, K, mask=np.ones_like(V), **kw)
    plain = tg.nmf.fit(V, K, **kw)
    np.testing.assert_allclose(full.W, plain.W, rtol=1e-12)
    assert _rel(a.W, plain.W) > 1e-3  # the mask did change the fit


HALS_REG = [(0.0, "same", 0.0, 1e-4), (0.05, 0.2, 0.5, 1e-4), (0.0, "same", 0.0, 0.0)]


@pytest.mark.parametrize(("alpha_W", "alpha_H", "l1_ratio", "tol"), HALS_REG)
def test_hals_matches_sklearn_cd_batched(problem, alpha_W, alpha_H, l1_ratio, tol):
    """Two problems in one batched call, each equal to cd(shuffle=False), n_iter included."""
    V, W0, H0 = problem
    Vs = np.stack([V, 3.0 * V[::-1]])
    W0s = np.stack([W0, W0[::-1]])
    pen = dict(alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio)
    r = tg.nmf.fit(Vs, K, solver="hals", W0=W0s, H0=np.stack([H0, H0]), tol=tol, **pen)
    for i in range(2):
        sk, W_sk = _sk(Vs[i], W0s[i], H0, solver="cd", shuffle=False, tol=tol, **pen)
        assert int(r.n_iter[i]) == sk.n_iter_
        assert _rel(r.W[i], W_sk) < SKLEARN_RTOL
        assert _rel(r.H[i], sk.components_) < SKLEARN_RTOL
        assert float(r.loss[i]) == pytest.approx(sk.reconstruction_err_, rel=SKLEARN_RTOL)
    if tol > 0:
        assert bool(np.all(r.converged)) == bool(np.all(np.asarray(r.n_iter) < 200))


@pytest.mark.parametrize("solver", BASE_SOLVERS)
def test_update_H_false_and_transform_match_sklearn(problem, solver):
    V, W0, H0 = problem
    rng = np.random.default_rng(5)
    V_new = rng.random((7, N))
    sk, _ = _sk(V, W0, H0, solver={"mu": "mu", "hals": "cd"}[solver], max_iter=200, tol=1e-4)
    r = tg.nmf.fit(V, K, solver=solver, W0=W0, H0=H0, max_iter=200, tol=1e-4)
    W_new = r.transform(V_new)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W_sk = sk.transform(V_new)
    assert W_new.shape == (7, K)
    assert _rel(W_new, W_sk) < SKLEARN_RTOL
    np.testing.assert_allclose(r.to_model().transform(V_new, solver=solver), W_new, rtol=1e-12)
    fixed = tg.nmf.fit(V_new, K, solver=solver, H0=sk.components_, update_H=False)
    np.testing.assert_array_equal(fixed.H, sk.components_)  # H comes back unchanged
    assert _rel(fixed.W, W_sk) < SKLEARN_RTOL


def test_update_W_false_is_update_H_false_transposed(problem):
    V, W0, _ = problem
    a = tg.nmf.fit(V, K, W0=W0, update_W=False, alpha_W=0.1)
    b = tg.nmf.fit(V.T, K, H0=W0.T, update_H=False, alpha_W=0.1)
    np.testing.assert_array_equal(a.W, W0)
    np.testing.assert_allclose(a.H, np.asarray(b.W).T, rtol=1e-12)
    with pytest.raises(ValueError, match="update_H=False needs H0"):
        tg.nmf.fit(V, K, update_H=False)
    with pytest.raises(ValueError, match="leave nothing to fit"):
        tg.nmf.fit(V, K, W0=W0, H0=W0.T[:, :N], update_W=False, update_H=False)


def _positive(problem):
    """The module's problem with V > 0 (every loss accepts it).  Same shapes, rank and
    ``max_iter`` (200; ``tol`` is traced) as the parity tests above: their compiled loops are
    reused, so the walks below add little compile time."""
    V, W0, H0 = problem
    return V + 0.05, W0, H0


def _supported(loss, solver) -> bool:
    try:
        SOLVERS[solver].check(
            LOSSES[loss] if isinstance(loss, str) else tg.nmf.Beta(loss), False, others=""
        )
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_every_solver_and_loss_decreases_monotonically(problem, solver):
    V, W0, H0 = _positive(problem)
    for loss in ("frobenius", "kl", "is", 0.5, 1.5, 3.0):
        if not _supported(loss, solver):
            continue
        r = tg.nmf.fit(V, K, loss=loss, solver=solver, W0=W0, H0=H0, tol=0.0)
        hist = np.asarray(r.loss_history)
        assert np.all(np.diff(hist) <= 1e-12 * hist[:-1]), (loss, hist)
        assert hist[-1] < 0.9 * hist[0], (loss, hist)


def test_every_registered_loss_and_solver_runs_through_fit(problem):
    """Walks the tables: a registration that fit cannot run (or refuses unclearly) fails."""
    V, W0, H0 = _positive(problem)
    for solver_name, solver in SOLVERS.items():
        for loss_name, loss in LOSSES.items():
            kw = dict(loss=loss_name, solver=solver_name, W0=W0, H0=H0, tol=0.0)
            if not _supported(loss_name, solver_name):
                with pytest.raises(ValueError, match=f"solver={solver_name!r}"):
                    tg.nmf.fit(V, K, **kw)
                continue
            r = tg.nmf.fit(V, K, **kw)
            assert r.loss_type == loss.name and r.solver == solver.name == solver_name
            assert np.isfinite(float(r.loss)) and float(r.loss) < float(r.loss_history[0])
        if solver.frobenius_only:  # HALS-type solvers refuse masks clearly
            with pytest.raises(ValueError, match=r"mask.*use solver='mu'"):
                tg.nmf.fit(V, K, solver=solver_name, mask=np.ones_like(V))


@pytest.mark.internals  # the compiled program's cache size: the public API counts no programs
def test_one_compile_per_loss_and_solver():
    from tracegrad.nmf import _execute

    rng = np.random.default_rng(9)
    V = rng.random((7, 5)) + 0.1  # a shape no other test uses: the cache starts empty
    W0, H0 = rng.random((7, 1)) + 0.1, rng.random((1, 5)) + 0.1
    before = _execute.program._cache_size()
    for solver in BASE_SOLVERS:
        for i, loss in enumerate(("frobenius", "frobenius", 2.0)):
            # new values, tol, max_iter and penalty: no recompile
            tg.nmf.fit(V + i, 1, loss=loss, solver=solver, W0=W0, H0=H0, max_iter=17 + i,
                       tol=1e-3 * i, alpha_W=0.01 * i)  # fmt: skip
    assert _execute.program._cache_size() == before + 2
    tg.nmf.fit(V, 1, loss="kl", W0=W0, H0=H0, max_iter=17)
    tg.nmf.fit(V, 1, loss="kullback-leibler", W0=W0, H0=H0, max_iter=17)  # alias: same
    assert _execute.program._cache_size() == before + 3


@pytest.mark.internals  # the CPU worker count and a spy on the compiled program
def test_worker_threads_equal_one_loop_for_hals(monkeypatch):
    from tracegrad.nmf import _execute, _fit

    rng = np.random.default_rng(1)
    m, n, k, b = 64, 64, 4, 2  # m n k >= MIN_WORKER_MNK: one problem per thread
    V = rng.random((b, m, n))
    W0, H0 = rng.random((b, m, k)) + 0.1, rng.random((b, k, n)) + 0.1
    kw = dict(solver="hals", max_iter=30, tol=1e-3, W0=W0, H0=H0)
    calls = []
    real = _execute.program
    monkeypatch.setattr(_execute, "program", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    monkeypatch.setattr(_fit, "cpu_workers", lambda: 2)
    split = tg.nmf.fit(V, k, **kw)
    assert len(calls) == 2  # two groups, run by the worker threads
    monkeypatch.setattr(_fit, "cpu_workers", lambda: 1)
    whole = tg.nmf.fit(V, k, **kw)
    np.testing.assert_array_equal(split.n_iter, whole.n_iter)
    np.testing.assert_allclose(split.W, whole.W, rtol=1e-10)


def test_accelerated_solvers_reach_lower_loss_than_plain_per_iteration(problem):
    """A-MU and A-HALS do several inner updates per iteration: lower loss after 20 iterations
    (``loss_history[2]``) than MU and HALS (Gillis & Glineur 2012's point)."""
    V, W0, H0 = _positive(problem)
    at20 = {
        s: float(tg.nmf.fit(V, K, solver=s, W0=W0, H0=H0, tol=0.0).loss_history[2]) for s in SOLVERS
    }
    assert at20["amu"] < at20["mu"] and at20["ahals"] <= at20["hals"] * (1 + 1e-9), at20


def test_transform_names_V_new_when_its_columns_do_not_fit(problem):
    V, W0, H0 = problem
    r = tg.nmf.fit(V, K, W0=W0, H0=H0, max_iter=20)
    for transform in (r.transform, r.to_model().transform):
        with pytest.raises(ValueError, match=rf"V_new must have N = {N} columns.*shape 5x7"):
            transform(np.ones((5, 7)))
        with pytest.raises(ValueError, match=r"V_new must be a matrix \(\.\.\., M', N\)"):
            transform(np.ones(N))
    assert r.transform([[0.5] * N, [1.0] * N]).shape == (2, K)  # a nested list is an array
