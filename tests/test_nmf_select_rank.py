"""``tracegrad.nmf.select_rank``: the stability measures, padding, chunking, the chosen rank."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import cli_main

from tracegrad import nmf
from tracegrad.nmf import _consensus
from tracegrad.nmf._select_rank import choose_rank, fit_bytes

# internals: the consensus statistics, rank rule and per-fit memory estimate, on made-up inputs
pytestmark = pytest.mark.internals

scipy_hierarchy = pytest.importorskip("scipy.cluster.hierarchy")
from scipy.optimize import linear_sum_assignment  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402

M, N, TRUE_K = 96, 60, 3
RANKS = (2, 3, 4, 5)
RESTARTS = 6
SELECT: dict[str, Any] = dict(restarts=RESTARTS, loss="kl", max_iter=200, holdout=0.1)


def catalogue(seed: int, k: int = TRUE_K) -> tuple[np.ndarray, np.ndarray]:
    """Mutational-catalogue-like counts: ``k`` sparse Dirichlet signatures over 96 contexts,
    gamma exposures scaled to 200-2000 mutations per sample, Poisson noise."""
    rng = np.random.default_rng(seed)
    S = rng.dirichlet(np.full(M, 0.3), size=k).T
    E = rng.gamma(0.8, 1.0, (k, N)) * rng.uniform(200, 2000, N)
    return rng.poisson(S @ E).astype(np.float64), S


@pytest.fixture(scope="module")
def selections():
    """One selection per seed (same shapes: one compiled program for both)."""
    return {seed: nmf.select_rank(catalogue(seed)[0], RANKS, key=seed, **SELECT) for seed in (0, 1)}


# ---- the stability measures on hand-made cases -------------------------------------------


def test_a_perfectly_consistent_consensus_has_cophenetic_and_dispersion_one():
    labels = np.array([0, 0, 1, 2, 1, 2, 0])
    H = np.stack([np.eye(3)[labels].T[list(perm)] for perm in itertools.permutations(range(3))])
    C = _consensus.consensus_matrix(H)
    assert set(np.unique(C)) == {0.0, 1.0}
    assert _consensus.cophenetic_correlation(C) == 1.0
    assert _consensus.dispersion(C) == 1.0


@pytest.mark.parametrize("n", [4, 9])
def test_dispersion_bounds(n):
    # an undecided consensus (all 1/2 off the diagonal) reaches the lower end: only the unit
    # diagonal contributes, 4 (1 - 1/2)^2 = 1 per entry, so 1/n
    C = np.full((n, n), 0.5)
    np.fill_diagonal(C, 1.0)
    assert _consensus.dispersion(C) == pytest.approx(1.0 / n, abs=1e-15)
    rng = np.random.default_rng(n)
    H = rng.random((5, 3, n))
    d = _consensus.dispersion(_consensus.consensus_matrix(H))
    assert 1.0 / n <= d <= 1.0


def test_consensus_is_the_mean_connectivity():
    rng = np.random.default_rng(3)
    H = rng.random((4, 3, 11))
    labels = H.argmax(1)
    ref = np.mean([lab[:, None] == lab[None, :] for lab in labels], 0)
    np.testing.assert_array_equal(_consensus.consensus_matrix(H), ref)


@pytest.mark.parametrize("n", [3, 12, 40])
def test_average_linkage_cophenetic_matches_scipy(n):
    rng = np.random.default_rng(n)
    X = rng.random((n, 3))
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    Z = scipy_hierarchy.linkage(squareform(D, checks=False), "average")
    ref = squareform(scipy_hierarchy.cophenet(Z))
    np.testing.assert_allclose(_consensus.cophenetic_matrix(D), ref, rtol=0, atol=1e-14)
    C = 1 - D / D.max()
    want = scipy_hierarchy.cophenet(
        scipy_hierarchy.linkage(squareform(1 - C, checks=False), "average"),
        squareform(1 - C, checks=False),
    )[0]
    assert _consensus.cophenetic_correlation(C) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_hungarian_finds_the_minimum_cost_matching(k):
    rng = np.random.default_rng(k)
    for _ in range(5):
        cost = rng.random((k, k))
        col = _consensus.hungarian(cost)
        assert sorted(col) == list(range(k))
        r, c = linear_sum_assignment(cost)
        assert cost[np.arange(k), col].sum() == pytest.approx(cost[r, c].sum(), abs=1e-12)


def test_clustering_recovers_permuted_components_and_silhouette_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    base = rng.random((20, 4))
    perms = [rng.permutation(4) for _ in range(6)]
    W = np.stack([(base + 0.05 * rng.random((20, 4)))[:, p] for p in perms])
    perm = _consensus.cluster_components(W, reference=0)
    for r, p in enumerate(perms):
        # cluster c holds base component perms[0][c]; restart r has it at column p^-1 of that
        np.testing.assert_array_equal(p[perm[r]], perms[0])
    X = W[np.arange(6)[:, None], :, perm].reshape(24, -1)
    want = sklearn_metrics.silhouette_score(X, np.tile(np.arange(4), 6), metric="cosine")
    assert _consensus.silhouette(W, perm) == pytest.approx(want, abs=1e-12)
    assert want > 0.9
    # a shuffled matching must score worse: the measure sees the clustering
    bad = np.array([rng.permutation(4) for _ in range(6)])
    assert _consensus.silhouette(W, bad) < want - 0.3


def test_silhouette_conventions():
    W = np.random.default_rng(1).random((3, 5, 1))
    assert _consensus.silhouette(W, np.zeros((3, 1), int)) == 1.0  # one cluster
    assert np.isnan(_consensus.silhouette(W[:1], np.zeros((1, 1), int)))  # one restart


def test_rule_takes_the_smallest_stable_rank_near_the_best_stable_error():
    ranks = [1, 2, 3, 4, 5]
    err = np.array([10.0, 5.0, 2.0, 1.98, 1.5])
    sil = np.array([1.0, 1.0, 0.95, 0.4, 0.9])
    assert choose_rank(ranks, err, sil, 0.8, 0.05) == 5  # 5 is stable and much better
    sil[4] = 0.3
    assert choose_rank(ranks, err, sil, 0.8, 0.05) == 3
    assert choose_rank(ranks, err, sil, 0.8, 6.0) == 1  # every stable rank is "close"
    assert choose_rank(ranks, err, np.full(5, 0.1), 0.8, 0.05) == 5  # none stable: all tie
    flat = np.array([10.0, 5.0, 2.0, 1.98, 1.97])  # one restart: the error alone decides
    assert choose_rank(ranks, flat, np.full(5, np.nan), 0.8, 0.05) == 3


# ---- padding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loss, dtype, solver",
    [
        ("frobenius", jnp.float64, "mu"),
        ("kl", jnp.float32, "mu"),
        ("frobenius", jnp.float64, "hals"),
    ],
)
def test_zero_components_stay_exactly_zero(loss, dtype, solver):
    rng = np.random.default_rng(2)
    V = jnp.asarray(rng.random((9, 7)) + 0.1, dtype)
    k, kmax = 2, 4
    W0 = jnp.asarray(rng.random((9, k)) + 0.1, dtype)
    H0 = jnp.asarray(rng.random((k, 7)) + 0.1, dtype)
    Wp = jnp.zeros((9, kmax), dtype).at[:, :k].set(W0)
    Hp = jnp.zeros((kmax, 7), dtype).at[:k].set(H0)
    kw: dict[str, Any] = dict(loss=loss, max_iter=40, tol=0.0, solver=solver)
    padded = nmf.fit(V, kmax, W0=Wp, H0=Hp, **kw)
    plain = nmf.fit(V, k, W0=W0, H0=H0, **kw)
    assert padded.W.dtype == dtype
    assert np.all(np.asarray(padded.W[:, k:]) == 0) and np.all(np.asarray(padded.H[k:]) == 0)
    rtol = 1e-12 if dtype == jnp.float64 else 1e-4
    np.testing.assert_allclose(padded.W[:, :k], plain.W, rtol=rtol, atol=0)
    np.testing.assert_allclose(padded.H[:k], plain.H, rtol=rtol, atol=0)


# ---- the selection -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_finds_the_true_rank_of_a_synthetic_catalogue(selections, seed):
    sel = selections[seed]
    assert sel.ranks == RANKS
    assert sel.best_rank == TRUE_K
    i = RANKS.index(TRUE_K)
    assert sel.silhouette[i] > 0.95 and sel.silhouette[i + 1] < 0.8
    assert sel.cv_error[i] < 0.7 * sel.cv_error[i - 1]  # held out, K = 2 fits far worse
    assert np.all(np.diff(sel.reconstruction_error) < 0)
    # the consensus signatures are the true ones, in some order
    W, H = sel.consensus(TRUE_K)
    assert W.shape == (M, TRUE_K) and H.shape == (TRUE_K, N)
    S = catalogue(seed)[1]
    cos = (S / np.linalg.norm(S, axis=0)).T @ (W / np.linalg.norm(W, axis=0))
    assert np.min(np.max(cos, axis=1)) > 0.95
    assert sel.restart_errors.shape == sel.n_iter.shape == (len(RANKS), RESTARTS)
    assert sel.n_calls == 2  # all ranks x restarts in one call, the held-out fits in another
    assert np.all(np.isfinite(sel.cophenetic)) and np.all(sel.dispersion <= 1)


def test_hals_selection_finds_the_true_rank_and_refuses_a_masked_holdout():
    V = catalogue(0)[0]
    kw: dict[str, Any] = dict(
        restarts=RESTARTS, loss="frobenius", max_iter=200, key=0, solver="hals"
    )
    with pytest.raises(ValueError, match="holdout"):
        nmf.select_rank(V, RANKS, **kw)  # default holdout: HALS has no masked form
    sel = nmf.select_rank(V, RANKS, holdout=0.0, **kw)
    assert sel.best_rank == TRUE_K and np.all(np.isnan(sel.cv_error))


def test_chunked_selection_equals_the_single_call(selections, monkeypatch):
    from tracegrad.nmf import _execute

    calls = []
    real = _execute.program

    def spy(V, mask, *args, plan):
        calls.append((plan.group, mask is not None))
        return real(V, mask, *args, plan=plan)

    monkeypatch.setattr(_execute, "program", spy)
    V = catalogue(0)[0]
    per_fit = fit_bytes(M, N, max(RANKS), 8)
    budget = 3 * M * N * 8 + 4 * per_fit  # at most 4 replicates per call
    chunked = nmf.select_rank(V, RANKS, key=0, memory_budget=budget, **SELECT)
    # equal chunks, so one compiled program per kind: the 24 fits as 6 x 4, the 12 held-out
    # fits as 3 x 4 (an uneven split, filled up with a repeat: test_one_restart_...)
    assert sorted(calls) == [(4, False)] * 6 + [(4, True)] * 3
    whole = selections[0]
    assert chunked.n_calls == 9 and whole.n_calls == 2
    assert chunked.best_rank == whole.best_rank
    np.testing.assert_array_equal(chunked.n_iter, whole.n_iter)
    np.testing.assert_array_equal(chunked.converged, whole.converged)
    for name in ("restart_errors", "cv_error", "cophenetic", "dispersion", "silhouette"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10)
    for a, b in zip(
        chunked.consensus_W + chunked.consensus_H,
        whole.consensus_W + whole.consensus_H,
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def small_data() -> np.ndarray:
    """12 x 10, rank 2: the one-restart test and the CLI test share its compiled fits."""
    rng = np.random.default_rng(0)
    return rng.random((12, 2)) @ rng.random((2, 10))


def test_one_restart_has_no_stability_and_an_uneven_chunk_is_filled_up():
    kw: dict[str, Any] = dict(restarts=1, holdout=0.0, loss="frobenius", max_iter=30)
    sel = nmf.select_rank(small_data(), [1, 2, 3], **kw)
    assert np.all(np.isnan(sel.silhouette)) and np.all(np.isnan(sel.cophenetic))
    assert np.all(np.isnan(sel.dispersion)) and np.all(np.isnan(sel.cv_error))
    assert sel.best_rank in (1, 2, 3) and sel.n_calls == 1
    assert sel.consensus(2)[0].shape == (12, 2)
    with pytest.raises(ValueError, match="rank"):
        sel.consensus(4)
    # 3 fits, 2 per call: the second call fits the third and a discarded repeat of it
    budget = 3 * 12 * 10 * 8 + 2 * fit_bytes(12, 10, 3, 8)
    two = nmf.select_rank(small_data(), [1, 2, 3], memory_budget=budget, **kw)
    assert two.n_calls == 2 and two.restart_errors.shape == (3, 1)
    np.testing.assert_allclose(two.restart_errors, sel.restart_errors, rtol=1e-12)
    for a, b in zip(two.consensus_W, sel.consensus_W, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_plot_writes_a_png(selections, tmp_path):
    pytest.importorskip("matplotlib")
    out = selections[0].plot(tmp_path / "k.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(selections, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"tracegrad\[plot\]"):
        selections[0].plot(tmp_path / "k.png")


V_SMALL = np.abs(np.random.default_rng(0).random((6, 5)))


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(ranks=[]), ValueError, "ranks"),
        (dict(ranks=[2, 2]), ValueError, "ranks"),
        (dict(ranks=[0, 1]), ValueError, "ranks"),
        (dict(ranks=[6]), ValueError, "ranks"),  # > min(M, N) = 5
        (dict(ranks=[1.5]), TypeError, "ranks"),
        (dict(ranks="2:3"), TypeError, "ranks"),
        (dict(restarts=0), ValueError, "restarts"),
        (dict(holdout=1.0), ValueError, "holdout"),
        (dict(holdout=-0.1), ValueError, "holdout"),
        (dict(holdout=1e-9), ValueError, "holdout"),  # hides no entry of 6 x 5
        (dict(cv_restarts=0), ValueError, "cv_restarts"),
        (dict(error_tol=-1.0), ValueError, "error_tol"),
        (dict(min_stability=2.0), ValueError, "min_stability"),
        (dict(memory_budget=0), ValueError, "memory_budget"),
        (dict(W0=np.ones((6, 2))), TypeError, "W0"),
        (dict(init="nndsvd"), TypeError, "init"),
        (dict(update_H=False), TypeError, "update_H"),
        (dict(V=np.ones((2, 6, 5))), ValueError, "V"),
        (dict(V=-V_SMALL), ValueError, "V"),
        (dict(key=jax.random.split(jax.random.key(0), 2)), ValueError, "key"),
    ],
)
def test_bad_input_is_named(kwargs, exc, name):
    args: dict[str, Any] = dict(V=V_SMALL, ranks=[1, 2])
    args.update(kwargs)
    V, ranks = args.pop("V"), args.pop("ranks")
    with pytest.raises(exc, match=name):
        nmf.select_rank(V, ranks, **args)


# ---- the command line ------------------------------------------------------------------------


def test_cli_select_rank_writes_table_factors_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    np.savez(tmp_path / "data.npz", V=small_data())
    config = tmp_path / "run.toml"
    config.write_text(
        '[data]\nsource = "file"\npath = "data.npz"\n'
        '[nmf]\nloss = "frobenius"\nmax_iter = 30\ndtype = "float64"\n'
        "[select_rank]\nholdout = 0.0\n"
    )
    out = tmp_path / "sel.npz"
    argv = ["nmf", "--config", str(config), "--output", str(out), "--quiet"]
    assert cli_main([*argv, "--select-rank", "1:3", "--restarts", "1"]) == 0
    text = capsys.readouterr().out
    assert "best rank:" in text and "silhouette" in text
    with np.load(out) as r:
        assert list(r["ranks"]) == [1, 2, 3]
        assert r["W_2"].shape == (12, 2) and r["H_3"].shape == (3, 10)
        assert r["restart_errors"].shape == (3, 1)
        assert int(r["best_rank"]) in (1, 2, 3)
    lines = (tmp_path / "sel-ranks.csv").read_text().splitlines()
    assert lines[0].startswith("rank,reconstruction_error") and len(lines) == 4
    assert (tmp_path / "sel-ranks.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_select_rank_bad_ranks_and_destination_fail_before_work(tmp_path, capsys):
    (tmp_path / "folder.npz").mkdir()
    argv = ["nmf", "--quiet", "--no-plot"]
    with pytest.raises(SystemExit) as exit_:  # flags are parsed by the config's schema
        cli_main([*argv, "--select-rank", "3:1"])
    assert exit_.value.code == 2 and "--select-rank" in capsys.readouterr().err
    assert cli_main([*argv, "--select-rank", "2:3", "--output", str(tmp_path / "folder.npz")]) == 2
    assert "folder" in capsys.readouterr().err
    config = tmp_path / "bad.toml"
    config.write_text('[select_rank]\nranks = "two"\n')
    assert cli_main(["nmf", "--config", str(config)]) == 2
    assert "select_rank.ranks" in capsys.readouterr().err
