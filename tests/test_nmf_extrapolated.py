"""The extrapolated solvers ("apg", "ehals"): the Lipschitz bound, the Nesterov subproblem
against an exact NNLS, the restart rule and the objective in the carry, per-problem batches,
update_H=False, and fewer iterations than HALS to a loss."""

import jax
import numpy as np
import pytest
from scipy.optimize import nnls

import tracegrad as tg
from tracegrad.nmf._contract import Data
from tracegrad.nmf._regularization import Penalty
from tracegrad.nmf._solvers import SOLVERS, _apg, _extrapolated
from tracegrad.nmf._solvers._extrapolated import AbstractExtrapolated

# internals: the extrapolated solvers' Lipschitz bound, Nesterov subproblem, restart rule and carry
pytestmark = pytest.mark.internals

EXTRAPOLATED = [name for name, s in SOLVERS.items() if isinstance(s, AbstractExtrapolated)]


def test_both_extrapolated_solvers_are_registered():
    assert {"apg", "ehals"} <= set(EXTRAPOLATED)


def _gram(rng, b, k, m=9, zero_rows=()):
    A = rng.random((b, m, k))
    A[..., list(zero_rows)] = 0.0  # a padded (all-zero) component
    return np.swapaxes(A, -1, -2) @ A


@pytest.mark.parametrize("zero_rows", [(), (1,)])
def test_lipschitz_bounds_the_largest_eigenvalue_tightly(zero_rows):
    rng = np.random.default_rng(0)
    for k in (1, 3, 8):
        G = _gram(rng, 4, k, zero_rows=[z for z in zero_rows if z < k])
        G = G + 0.3 * np.eye(k) * (rng.random((4, 1, 1)) < 0.5)  # l2 on some diagonals
        lam = np.linalg.eigvalsh(G)[..., -1]
        L = np.asarray(_apg.lipschitz(G))
        assert np.all(L >= lam) and np.all(L <= 1.05 * lam), (k, L / lam)
    assert float(_apg.lipschitz(np.zeros((3, 3)))) == 0.0


@pytest.mark.parametrize("right", [True, False])
def test_nesterov_subproblem_converges_to_the_exact_nnls(right):
    rng = np.random.default_rng(1)
    k, p = 4, 6
    A = rng.random((2, 11, k))
    G = np.swapaxes(A, -1, -2) @ A
    target = rng.random((2, 11, p)) - 0.3  # some negative: active constraints
    R = np.swapaxes(A, -1, -2) @ target  # (2, K, P): the normal equations' right side
    exact = np.stack(
        [np.stack([nnls(A[b], target[b, :, j])[0] for j in range(p)], -1) for b in range(2)]
    )  # (2, K, P)
    F0 = np.full((2, k, p), 0.5)
    if right:  # the W orientation: F (B, P, K), gradient F G - R^T
        got = _apg.nesterov(np.swapaxes(F0, -1, -2), G, np.swapaxes(R, -1, -2), 800, True)
        got = np.swapaxes(np.asarray(got), -1, -2)
    else:
        got = np.asarray(_apg.nesterov(F0, G, R, 800, False))
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, exact, atol=1e-8)
    solver = SOLVERS["apg"]
    kept = solver.subproblem(F0, G, R, False, np.array([False, True]))
    np.testing.assert_array_equal(kept[0], F0[0])  # a frozen problem is kept exactly


def _objective(V, W, H, pen):
    r = V - W @ H
    return (
        0.5 * np.sum(r * r, axis=(-2, -1))
        + pen.l1_W * W.sum(axis=(-2, -1)) + 0.5 * pen.l2_W * (W * W).sum(axis=(-2, -1))
        + pen.l1_H * H.sum(axis=(-2, -1)) + 0.5 * pen.l2_H * (H * H).sum(axis=(-2, -1))
    )  # fmt: skip


def _setup(seed=2, b=3, m=10, n=8, k=3):
    rng = np.random.default_rng(seed)
    V = rng.random((b, m, n))
    return V, rng.random((b, m, k)) + 0.1, rng.random((b, k, n)) + 0.1


@pytest.mark.parametrize("name", EXTRAPOLATED)
def test_carry_objective_is_the_penalised_objective_of_the_returned_pair(name):
    V, W, H = _setup()
    pen = Penalty(0.05, 0.02, 0.1, 0.3)
    solver = SOLVERS[name]
    data = Data(V)
    carry = solver.init_carry(data, W, H, pen)
    advance = jax.jit(lambda c, W, H: solver.advance(c, data, W, H, None, pen, None, None, True,
                                                     True, (10, 8, 3)))  # fmt: skip
    for _ in range(6):
        W, H, _, carry = advance(carry, W, H)
        W, H = np.asarray(W), np.asarray(H)
        assert np.all(W >= 0) and np.all(H >= 0)
        np.testing.assert_allclose(np.asarray(carry[8]), _objective(V, W, H, pen), rtol=1e-10)


def test_restart_rule_per_problem():
    """A problem whose objective rose restarts from its new NNLS iterates with beta / ETA and
    the cap set to the previous beta; the others grow beta (Ang & Gillis, Algorithm 2)."""
    V, W, H = _setup()
    pen = Penalty(0.0, 0.0, 0.0, 0.0)
    solver = SOLVERS["apg"]
    data = Data(V)
    carry = list(solver.init_carry(data, W, H, pen))
    carry[4] = np.array([0.6, 0.6, 0.6])  # beta
    carry[5] = np.array([0.9, 0.9, 0.9])  # its cap
    carry[6] = np.array([0.4, 0.4, 0.4])  # the previous beta
    carry[7] = np.array([0.0, np.inf, np.inf])  # problem 0: any objective is a rise
    W1, H1, _, new = solver.advance(tuple(carry), data, W, H, None, pen, None, None, True, True,
                                    (10, 8, 3))  # fmt: skip
    Wn, Hn, Wy, Hy, beta, cap = (np.asarray(x) for x in new[:6])
    ETA, GAMMA, GAMMA_BAR = _extrapolated.ETA, solver.gamma, solver.gamma_bar
    np.testing.assert_allclose(beta, [0.6 / ETA, 0.6 * GAMMA, 0.6 * GAMMA])
    np.testing.assert_allclose(cap, [0.4, 0.9 * GAMMA_BAR, 0.9 * GAMMA_BAR])
    np.testing.assert_array_equal(Wy[0], Wn[0])  # restarted: no extrapolation
    np.testing.assert_array_equal(Hy[0], Hn[0])
    assert not np.array_equal(Wy[1], Wn[1])  # extrapolated
    # the first extrapolated W is W_n + 0.6 (W_n - W0), projected
    np.testing.assert_allclose(Wy[1], np.maximum(Wn[1] + 0.6 * (Wn[1] - W[1]), 0))


@pytest.mark.parametrize("name", EXTRAPOLATED)
def test_batched_problems_stop_on_their_own_and_equal_single_fits(name):
    V, W0, H0 = _setup(seed=8)
    kw = dict(solver=name, max_iter=200, tol=1e-4)
    batch = tg.nmf.fit(V, 3, W0=W0, H0=H0, **kw)
    for i in range(V.shape[0]):
        one = tg.nmf.fit(V[i], 3, W0=W0[i], H0=H0[i], **kw)
        assert int(one.n_iter) == int(batch.n_iter[i])
        np.testing.assert_allclose(one.W, batch.W[i], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(one.H, batch.H[i], rtol=1e-9, atol=1e-12)
    assert len(set(np.asarray(batch.n_iter).tolist())) > 1  # they stopped at different times


@pytest.mark.parametrize("name", EXTRAPOLATED)
def test_update_H_false_solves_the_nnls_for_W(name):
    rng = np.random.default_rng(4)
    H = rng.random((3, 9))
    V = rng.random((6, 9))
    r = tg.nmf.fit(V, 3, solver=name, H0=H, update_H=False, max_iter=300, tol=0.0)
    exact = np.stack([nnls(H.T, V[i])[0] for i in range(6)])
    np.testing.assert_array_equal(r.H, H)
    np.testing.assert_allclose(r.W, exact, atol=1e-6)


@pytest.mark.parametrize("name", EXTRAPOLATED)
def test_fewer_iterations_than_hals_to_its_200_iteration_loss(name):
    """What the solvers are for: HALS's (= scikit-learn cd's) 200-iteration loss, reached in
    far fewer outer iterations (float64, a rank-6 problem with noise)."""
    rng = np.random.default_rng(5)
    V = rng.random((40, 6)) @ rng.random((6, 30)) + 0.05 * rng.random((40, 30))
    W0, H0 = rng.random((40, 6)), rng.random((6, 30))
    target = float(tg.nmf.fit(V, 6, solver="hals", W0=W0, H0=H0, tol=0.0).loss)
    hist = np.asarray(tg.nmf.fit(V, 6, solver=name, W0=W0, H0=H0, tol=0.0).loss_history)
    reached = np.nonzero(hist <= target * (1 + 1e-9))[0]
    assert reached.size and reached[0] * 10 <= 100, hist


def test_float32_stays_float32_and_finite():
    V, W0, H0 = (x.astype(np.float32) for x in _setup(seed=6))
    for name in EXTRAPOLATED:
        r = tg.nmf.fit(V, 3, solver=name, W0=W0, H0=H0, max_iter=50)
        assert r.W.dtype == r.H.dtype == np.float32
        assert np.all(np.isfinite(np.asarray(r.loss)))


def test_under_jit_and_vmap_free_of_python_state():
    """The carry lives in the compiled loop: two calls give the same result."""
    V, W0, H0 = _setup(seed=7)
    f = jax.jit(lambda v, w, h: tg.nmf.fit(v, 3, solver="apg", W0=w, H0=h, max_iter=30).W)
    np.testing.assert_array_equal(f(V, W0, H0), f(V, W0, H0))


@pytest.mark.parametrize("name", EXTRAPOLATED)
def test_a_solver_object_with_other_settings(name):
    V, W0, H0 = _setup(seed=9)
    cls = type(SOLVERS[name])
    default = tg.nmf.fit(V, 3, solver=name, W0=W0, H0=H0, max_iter=20, tol=0.0)
    other = tg.nmf.fit(V, 3, solver=cls(inner=1), W0=W0, H0=H0, max_iter=20, tol=0.0)
    assert other.solver == default.solver == name
    assert not np.allclose(other.W, default.W)  # the setting reached the compiled loop
    for bad in (0, -2, 1.5, True, "3"):
        with pytest.raises(ValueError, match=r"inner .* must be a positive int"):
            cls(inner=bad)
