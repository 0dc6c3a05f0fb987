"""``select_rank``: every rank x every restart of one ``V`` in one compiled ``fit`` call.

All fits share ``V`` (replicates of ``fit``).  Each rank ``K`` is padded to the largest rank
``Kmax`` with zero columns of ``W0`` and zero rows of ``H0``: a zero component stays exactly
zero under the multiplicative updates (its gradient parts are both zero, so it is multiplied by
``0 / EPSILON = 0``; KL's zero column sum of ``W`` becomes 1 first, giving ``0 / 1``), and adds
only exact zeros to ``WH``, so a padded replicate follows its rank-``K`` fit (to the rounding
of a longer matmul) and stops on its own.  Afterwards each replicate is cut back to its ``K``.
The stability measures are computed on the host by ``_consensus``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._utils import shape_str
from . import _consensus
from ._checks import check_data_host, check_key, host_key, resolve_dtype
from ._fit import equal_groups, fit_replicates
from ._loss import sqrt_loss
from ._losses import resolve_loss
from ._solvers import AUTO, auto_solver, check_solver, resolve_solver

FACTOR_ARRAYS = 6
"""``M K`` / ``K N``-sized arrays live per fit: ``W``, ``H``, the initial ``W0``, ``H0``, and the
two split-gradient parts of the factor being updated."""

MN_ARRAYS = 3
"""``M N``-sized arrays live per fit: ``WH`` and the arrays formed from it (KL's ``V / WH``, the
Frobenius residual of the loss check, a masked product)."""

BUDGET_SHARE = 0.5
"""Default memory budget: this share of the device's free memory (host RAM on CPU)."""

DEFAULT_MIN_CV_RESTARTS = 3
"""``cv_restarts`` default: ``min(restarts, 3)`` masked fits per rank."""

_RESERVED = ("rank", "W0", "H0", "init", "update_W", "update_H")


def fit_bytes(m: int, n: int, kmax: int, itemsize: int) -> int:
    """Estimated device bytes of one padded fit: ``itemsize (6 (M + N) Kmax + 3 M N)``."""
    return itemsize * (FACTOR_ARRAYS * (m + n) * kmax + MN_ARRAYS * m * n)


def default_budget() -> int:
    """``BUDGET_SHARE`` of the first device's free memory, or of the host's RAM on CPU."""
    dev = jax.devices()[0]
    stats = None
    with contextlib.suppress(Exception):  # backends without memory_stats
        stats = dev.memory_stats()
    if stats and "bytes_limit" in stats:
        free = int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    else:
        try:
            free = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            free = 8 << 30
    return max(1, int(free * BUDGET_SHARE))


class RankSelection(eqx.Module):
    """What ``select_rank`` returns: per-rank errors, stability, consensus factors.

    Arrays are NumPy, indexed like ``ranks``; ``(n_ranks, restarts)`` arrays hold every fit.

    Attributes:
        ranks: the ranks tried, ascending.
        reconstruction_error: the best restart's square-root loss ``sqrt(2 D(V, WH))`` per rank
            (``fit``'s ``loss``; over observed entries when masked).
        restart_errors: ``(n_ranks, restarts)`` every restart's loss.
        n_iter: ``(n_ranks, restarts)`` iterations each fit ran.
        converged: ``(n_ranks, restarts)`` whether each fit passed its stopping test.
        cophenetic: cophenetic correlation of the consensus matrix (Brunet et al. 2004); NaN
            with one restart.
        dispersion: dispersion of the consensus matrix (Kim & Park 2007); NaN with one restart.
        silhouette: mean silhouette of the restarts' components clustered into ``K`` groups
            (cosine distance); 1.0 for ``K = 1``; NaN with one restart.
        cv_error: held-out error per rank (NaN when ``holdout == 0``).
        consensus_W: per rank, ``(M, K)``: the median over restarts of each cluster's ``W``
            column, columns normalised to sum 1 before the median.
        consensus_H: per rank, ``(K, N)``: the median of the matching rows of ``H``, scaled by
            the same column sums (so ``W H`` is unchanged for each restart before the median).
        best_rank: the rank chosen by the rule in ``select_rank``'s docstring.
        loss: the loss fitted (``fit``'s canonical name, or its float beta).
        min_stability: the rule's silhouette cutoff.
        error_tol: the rule's relative error tolerance.
        holdout: the held-out fraction.
        n_calls: compiled ``fit`` calls made (more than 1 or 2 when chunked).
    """

    ranks: tuple[int, ...] = eqx.field(static=True)
    reconstruction_error: np.ndarray
    restart_errors: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    cophenetic: np.ndarray
    dispersion: np.ndarray
    silhouette: np.ndarray
    cv_error: np.ndarray
    consensus_W: tuple[np.ndarray, ...]
    consensus_H: tuple[np.ndarray, ...]
    best_rank: int = eqx.field(static=True)
    loss: str | float = eqx.field(static=True)
    min_stability: float = eqx.field(static=True)
    error_tol: float = eqx.field(static=True)
    holdout: float = eqx.field(static=True)
    n_calls: int = eqx.field(static=True)

    def consensus(self, rank: int) -> tuple[np.ndarray, np.ndarray]:
        """The consensus ``(W, H)`` of ``rank`` (one of ``ranks``)."""
        if rank not in self.ranks:
            raise ValueError(f"rank {rank!r} was not selected over; ranks are {list(self.ranks)}")
        i = self.ranks.index(rank)
        return self.consensus_W[i], self.consensus_H[i]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per rank: rank, error, cv error, cophenetic, dispersion, silhouette, best."""
        return [
            {
                "rank": k,
                "reconstruction_error": float(self.reconstruction_error[i]),
                "cv_error": float(self.cv_error[i]),
                "cophenetic": float(self.cophenetic[i]),
                "dispersion": float(self.dispersion[i]),
                "silhouette": float(self.silhouette[i]),
                "best": k == self.best_rank,
            }
            for i, k in enumerate(self.ranks)
        ]

    def plot(self, path: str | os.PathLike) -> Path:
        """Write the K-selection figure (errors and stability against rank) as a PNG.

        Raises:
            ImportError: matplotlib is not installed (``pip install 'tracegrad[plot]'``).
        """
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as err:
            raise ImportError(
                "RankSelection.plot needs matplotlib: pip install 'tracegrad[plot]'"
            ) from err
        from .._utils import atomic_path

        ks = np.asarray(self.ranks)
        fig, (ax_e, ax_s) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
        lines = ax_e.plot(ks, self.reconstruction_error, "o-", label="reconstruction error (best)")
        if np.any(np.isfinite(self.cv_error)):
            ax_cv = ax_e.twinx()
            lines += ax_cv.plot(ks, self.cv_error, "s--", color="C3", label="held-out error")
            ax_cv.set_ylabel("held-out error", color="C3")
        ax_e.set_ylabel(f"error ({self.loss})")
        ax_e.legend(lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8)
        for name, style in (("silhouette", "o-"), ("cophenetic", "s-"), ("dispersion", "^-")):
            ax_s.plot(ks, getattr(self, name), style, label=name)
        ax_s.axhline(self.min_stability, color="C0", lw=0.8, ls="--", label="silhouette cutoff")
        ax_s.set_ylabel("stability")
        ax_s.set_xlabel("rank K")
        ax_s.set_xticks(ks)
        ax_s.legend(loc="lower left", fontsize=8)
        for ax in (ax_e, ax_s):
            ax.axvline(self.best_rank, color="grey", lw=1, ls=":")
        ax_e.set_title(f"rank selection: best K = {self.best_rank}")
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        return Path(path)


def _check_ranks(ranks, m: int, n: int) -> tuple[int, ...]:
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        ranks = (ranks,)
    if isinstance(ranks, str) or not isinstance(ranks, Sequence | range | np.ndarray):
        raise TypeError(f"ranks must be a sequence of integers, got {type(ranks).__name__}")
    out = []
    for k in ranks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral | np.integer):
            raise TypeError(f"ranks must hold integers, got {k!r}")
        k = int(k)
        if not 1 <= k <= min(m, n):
            raise ValueError(
                f"ranks must lie in [1, min(M, N)] = [1, {min(m, n)}] for V of shape "
                f"({m}, {n}), got {k}"
            )
        out.append(k)
    if not out:
        raise ValueError("ranks must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"ranks must be unique, got {list(out)}")
    return tuple(sorted(out))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclasses.dataclass
class _Fits:
    W: np.ndarray  # (B, M, Kmax)
    H: np.ndarray  # (B, Kmax, N)
    loss: np.ndarray  # (B,)
    n_iter: np.ndarray
    converged: np.ndarray
    calls: int
    loss_type: Any  # the fit's canonical loss name (or its float beta)


def _fit_all(V, mask, keys, ks, kmax, chunk, fit_kw) -> _Fits:
    """Fit every replicate (raw key data ``(B, 2)`` and ranks ``ks``, flat), ``chunk``
    replicates per call of one compiled program (``_fit.fit_replicates``)."""
    B = len(ks)
    r = fit_replicates(V, kmax, W0=None, H0=None, init="random", key=keys, mask=mask,
                       ranks=ks, chunk=chunk, update_W=True, update_H=True, **fit_kw)  # fmt: skip
    size = equal_groups(B, min(B, chunk))  # fit_replicates' chunks (worker threads aside)
    fields = [np.asarray(r[name]) for name in ("W", "H", "loss", "n_iter", "converged")]
    return _Fits(*fields, calls=-(-B // size), loss_type=r["loss_type"])


@functools.partial(jax.jit, static_argnames=("kind", "shape", "counts", "masked"))
def _streams(key, mask, holdout, *, kind: str, shape: tuple[int, int], counts, masked: bool):
    """The selection's random streams in one program: the raw key data of every main and
    held-out replicate, and the held-out speckle's training and held masks with their
    sizes.  ``key`` splits into (main fits, held-out fits, speckle), as it always has."""
    key = key if kind == "typed" else jax.random.wrap_key_data(key)
    k_fit, k_cv, k_speckle = jax.random.split(key, 3)
    n_main, n_cv = counts
    keys_fit = jax.random.key_data(jax.random.split(k_fit, n_main))
    keys_cv = jax.random.key_data(jax.random.split(k_cv, n_cv))
    observed = jnp.ones(shape, holdout.dtype) if not masked else mask
    speckle = jax.random.bernoulli(k_speckle, holdout, shape).astype(holdout.dtype)
    held = observed * speckle
    train = observed * (1 - speckle)
    return keys_fit, keys_cv, train, held, jnp.sum(held > 0), jnp.sum(train > 0)


@functools.partial(jax.jit, static_argnames=("loss",))
def _held_out_error(V, held, W, H, *, loss):
    """``sqrt(2 D)`` on the held-out entries, per replicate (``W (R, M, K)``)."""
    return sqrt_loss(V * held, W, H, loss, held)


def _normalised(W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # W columns to sum 1, H rows scaled to keep W H; a zero column is left as it is
    s = W.sum(-2)
    safe = np.where(s > 0, s, 1.0)
    return W / safe[..., None, :], H * safe[..., :, None]


def _stability(W: np.ndarray, H: np.ndarray, errors: np.ndarray) -> tuple:
    """``(cophenetic, dispersion, silhouette, W_consensus, H_consensus)`` of one rank's
    restarts ``W (R, M, K)``, ``H (R, K, N)``."""
    R, _, K = W.shape
    best = int(np.argmin(np.where(np.isnan(errors), np.inf, errors)))
    perm = _consensus.cluster_components(W, reference=best)
    Wn, Hn = _normalised(W, H)
    idx = np.arange(R)[:, None]
    Wc = np.median(Wn[idx, :, perm].transpose(0, 2, 1), axis=0)  # (M, K)
    Hc = np.median(Hn[idx, perm, :], axis=0)  # (K, N)
    if R < 2:
        return float("nan"), float("nan"), float("nan"), Wc, Hc
    C = _consensus.consensus_matrix(H)
    return (
        _consensus.cophenetic_correlation(C),
        _consensus.dispersion(C),
        _consensus.silhouette(W, perm),
        Wc,
        Hc,
    )


def choose_rank(
    ranks: Sequence[int],
    error: np.ndarray,
    stability: np.ndarray,
    min_stability: float,
    error_tol: float,
) -> int:
    """The rule of ``select_rank``: the smallest stable rank whose error is within
    ``(1 + error_tol)`` of the smallest error among stable ranks.

    Stable: ``stability >= min_stability``; if no rank is, the most stable ranks; if the
    stability is NaN everywhere (one restart), every rank.
    """
    e = np.asarray(error, np.float64)
    e = np.where(np.isfinite(e), e, np.inf)
    s = np.asarray(stability, np.float64)
    if np.all(np.isnan(s)):
        stable = np.ones(len(e), bool)
    else:
        s = np.where(np.isnan(s), -np.inf, s)
        stable = s >= min_stability
        if not stable.any():
            stable = s == np.max(s)
    floor = np.min(e[stable])
    if not np.isfinite(floor):
        return int(np.asarray(ranks)[stable][0])
    close = stable & (e <= floor * (1.0 + error_tol))
    return int(np.asarray(ranks)[np.flatnonzero(close)[0]])


def select_rank(
    V,
    ranks: Sequence[int] | range | int,
    *,
    restarts: int = 10,
    loss: str = "frobenius",
    max_iter: int = 200,
    tol: float = 1e-4,
    key=None,
    mask=None,
    holdout: float = 0.1,
    cv_restarts: int | None = None,
    min_stability: float = 0.8,
    error_tol: float = 0.05,
    memory_budget: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
    **fit_kwargs,
) -> RankSelection:
    """Fit every rank in ``ranks`` from ``restarts`` random starts, in one compiled call, and
    measure error, stability and held-out error to choose the rank.

    The ``len(ranks) * restarts`` fits run as replicates of one ``fit`` call on the shared
    ``V``, each padded to ``Kmax = max(ranks)`` with zero components (which the updates keep
    at exactly zero) and stopping on its own; initial factors are scikit-learn's random scheme
    ``sqrt(mean(V) / K) |N(0, 1)|`` for the replicate's own ``K``.  Per rank:

    - ``reconstruction_error``: the lowest final loss over its restarts;
    - ``cophenetic``: cophenetic correlation of the consensus of the restarts' sample
      assignments ``argmax_k H[k, j]`` (Brunet et al. 2004, "Metagenes and molecular pattern
      discovery using matrix factorization"), average linkage on ``1 - C``;
    - ``dispersion``: ``1/N^2 sum 4 (C_ij - 1/2)^2`` (Kim & Park 2007, eq. 12);
    - ``silhouette``: the restarts' ``W`` columns clustered into ``K`` groups of one component
      per restart (Hungarian matching to the centroids, seeded with the best restart, cosine
      similarity; SigProfilerExtractor's scheme), mean silhouette with cosine distance;
    - ``cv_error``: a random speckle of ``holdout`` of the (observed) entries is hidden; each
      rank is fitted ``cv_restarts`` times with the rest (``fit``'s ``mask``), and the error
      ``sqrt(2 D)`` on the hidden entries of the restart with the lowest training loss is
      reported (one speckle for all ranks, so they are compared on the same entries);
    - consensus ``W``/``H``: per cluster, the median over restarts (``W`` columns normalised
      to sum 1, ``H`` rows scaled to match).

    ``best_rank`` rule (after SigProfilerExtractor, whose average-stability cutoff is 0.8): a
    rank is *stable* when its silhouette is at least ``min_stability`` (if none is, the most
    stable ranks count as stable); the error is ``cv_error`` when ``holdout > 0``, else
    ``reconstruction_error``; ``best_rank`` is the smallest stable rank whose error is within
    ``(1 + error_tol)`` times the smallest error among stable ranks.  Over-fitted ranks split
    a component differently in each restart and fall below the cutoff; under-fitted ranks
    are stable but their error is far above.  Without held-out fits the training error keeps
    falling with the rank, so the rule then takes about the largest stable rank; the held-out
    error guards against a spuriously stable large rank, which is why ``holdout`` defaults to
    0.1.  With ``restarts == 1`` there is no stability (the stability measures need at least
    2 restarts and are NaN): the smallest rank within ``error_tol`` of the smallest error.

    Memory: each fit holds about ``6 (M + N) Kmax + 3 M N`` numbers, so the selection needs
    ``ranks x restarts x (6 (M + N) Kmax + 3 M N) x itemsize`` bytes (plus as many for the
    held-out fits, ``ranks x cv_restarts``).  When that exceeds ``memory_budget`` the fits run
    in equal chunks of at most as many replicates as fit the budget, one ``fit`` call each
    (one compiled program; the last chunk is filled up with repeats that are discarded).
    Each replicate's initial factors depend only on its own key, so the results are those of
    the single call: the same iterations and stopping, values equal to float rounding (XLA
    may order a batched matmul's sums differently for another batch size).

    Args:
        V: ``(M, N)`` non-negative data (one matrix).
        ranks: the ranks to try (unique integers in ``[1, min(M, N)]``), or one int.
        restarts: random starts per rank (>= 2 for the stability measures).
        loss: as ``fit``'s (a name of ``LOSSES`` or a float beta).
        max_iter: as ``fit``'s: the iteration cap of every fit.
        tol: as ``fit``'s: the relative-decrease tolerance of every fit.
        key: JAX PRNG key or int seed (default ``jax.random.key(0)``); the same key gives the
            same selection.
        mask: optional 0/1 array shaped like ``V``; unobserved entries are never fitted nor
            held out.
        holdout: fraction of the observed entries hidden for ``cv_error``, in ``[0, 1)``; 0
            skips the held-out fits (needed with a solver that has no masked form, such as
            ``"hals"``: the held-out fits use ``fit``'s ``mask``).
        cv_restarts: held-out fits per rank (default ``min(restarts, 3)``).
        min_stability: the rule's silhouette cutoff, in ``[-1, 1]``.
        error_tol: the rule's relative error tolerance (>= 0).
        memory_budget: bytes one ``fit`` call may use (default: half the device's free
            memory, host RAM on CPU); with ``mesh``, per device.
        mesh: passed to ``fit`` (replicates are split over its devices).
        **fit_kwargs: any other ``fit`` keyword (``solver``, ``alpha_W``, ``alpha_H``,
            ``l1_ratio``, ``dtype``, ``progress``, ``mesh_axis``, ...), passed through.

    Returns:
        ``RankSelection``.

    Raises:
        ValueError: bad ``ranks``, ``restarts``, ``holdout``, ``cv_restarts``,
            ``min_stability``, ``error_tol``
            or ``memory_budget``; ``V`` not a single matrix; anything ``fit`` rejects.
        TypeError: ``ranks`` not integers; a ``fit_kwargs`` entry that ``select_rank`` sets
            itself (``rank``, ``W0``, ``H0``, ``init``, ``update_W``, ``update_H``).
    """
    for name in _RESERVED:
        if name in fit_kwargs:
            raise TypeError(
                f"select_rank does not take {name!r}: it fits both factors of every restart, "
                f"at each rank, from its own random start"
            )
    restarts = _positive_int("restarts", restarts)
    if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real):
        raise ValueError(f"holdout must be a number in [0, 1), got {holdout!r}")
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout must be in [0, 1), got {holdout!r}")
    cv_restarts = (
        min(restarts, DEFAULT_MIN_CV_RESTARTS)
        if cv_restarts is None
        else _positive_int("cv_restarts", cv_restarts)
    )
    if (
        isinstance(error_tol, bool)
        or not isinstance(error_tol, numbers.Real)
        or not np.isfinite(error_tol)
        or error_tol < 0
    ):
        raise ValueError(f"error_tol must be a finite number >= 0, got {error_tol!r}")
    if (
        isinstance(min_stability, bool)
        or not isinstance(min_stability, numbers.Real)
        or not -1 <= min_stability <= 1
    ):
        raise ValueError(f"min_stability must be a number in [-1, 1], got {min_stability!r}")
    if memory_budget is not None:
        memory_budget = _positive_int("memory_budget", memory_budget)
    if jnp.ndim(V) != 2:
        raise ValueError(
            f"select_rank fits one matrix: V must be (M, N), got shape {shape_str(jnp.shape(V))}"
        )
    dt = resolve_dtype(V, fit_kwargs.get("dtype"))
    need_x64 = dt == np.float64 and not jax.config.read("jax_enable_x64")
    with jax.enable_x64(True) if need_x64 else contextlib.nullcontext():
        return _select(
            V, ranks, restarts, loss, max_iter, tol, key, mask, holdout, cv_restarts,
            (float(min_stability), float(error_tol)), memory_budget, mesh, dt, fit_kwargs,
        )  # fmt: skip


def _select(
    V, ranks, restarts, loss, max_iter, tol, key, mask, holdout, cv_restarts, rule,
    budget, mesh, dt, fit_kwargs,
) -> RankSelection:  # fmt: skip
    V, mask, _ = check_data_host(V, mask, dt)
    m, n = np.shape(V)
    ks = _check_ranks(ranks, m, n)
    kmax = max(ks)
    check_key(key, make=False)
    kind, raw = host_key(key)
    if np.shape(raw)[: -1 if kind == "raw" else None] != ():
        shape = np.shape(raw)[:-1] if kind == "raw" else np.shape(raw)
        raise ValueError(f"key must be a single PRNG key, got shape {shape_str(shape)}")

    if budget is None:
        budget = default_budget()
    n_dev = 1 if mesh is None else int(mesh.devices.size)
    per_fit = fit_bytes(m, n, kmax, dt.itemsize)
    chunk = max(1, (budget - 3 * m * n * dt.itemsize) // per_fit) * n_dev
    fit_kw = {
        "alpha_W": 0.0, "alpha_H": "same", "l1_ratio": 0.0, "dtype": dt, "progress": None,
        "mesh_axis": None, "solver": "mu",
        **fit_kwargs,
        "loss": loss, "max_iter": max_iter, "tol": tol, "mesh": mesh,
    }  # fmt: skip

    n_r = len(ks)
    if isinstance(fit_kw["solver"], str) and fit_kw["solver"] == AUTO:  # one solver for all
        # the fits, main and held-out: the masked, batched line of the table when held out
        fit_kw["solver"] = auto_solver(resolve_loss(loss).beta, holdout > 0, True)
    if holdout > 0:  # a solver without a masked form: fail before any fit
        try:
            check_solver(resolve_solver(fit_kw["solver"], auto=True), resolve_loss(loss), True)
        except ValueError as err:
            raise ValueError(
                f"holdout={holdout} fits the held-out speckle with a mask, and {err}; pass "
                f"holdout=0 (no cv_error: the rule then uses the reconstruction error)"
            ) from None
    keys_fit, keys_cv, train, held, n_held, n_train = _streams(
        raw, mask, np.asarray(holdout, dt), kind=kind, shape=(m, n),
        counts=(n_r * restarts, n_r * cv_restarts), masked=mask is not None,
    )  # fmt: skip
    if holdout > 0:  # the speckle first: a useless holdout fails before any fit
        if int(n_held) == 0:
            raise ValueError(
                f"holdout={holdout} hid no entry of V's {m}x{n} observed entries; raise holdout"
            )
        if int(n_train) == 0:
            raise ValueError(f"holdout={holdout} hid every observed entry of V; lower holdout")

    rank_of = np.repeat(np.asarray(ks, np.int32), restarts)
    main = _fit_all(V, mask, keys_fit, rank_of, kmax, chunk, fit_kw)
    calls = main.calls

    errors = main.loss.reshape(n_r, restarts)
    rec = np.nanmin(np.where(np.isnan(errors), np.inf, errors), axis=1)
    coph, disp, sil, cW, cH = [], [], [], [], []
    for i, k in enumerate(ks):
        sl = slice(i * restarts, (i + 1) * restarts)
        c, d, s, w, h = _stability(main.W[sl, :, :k], main.H[sl, :k, :], errors[i])
        coph.append(c)
        disp.append(d)
        sil.append(s)
        cW.append(w)
        cH.append(h)

    cv = np.full(n_r, np.nan)
    if holdout > 0:
        rank_cv = np.repeat(np.asarray(ks, np.int32), cv_restarts)
        cvf = _fit_all(V, train, keys_cv, rank_cv, kmax, chunk, fit_kw)
        calls += cvf.calls
        train_err = np.where(np.isnan(cvf.loss), np.inf, cvf.loss).reshape(n_r, cv_restarts)
        chosen = np.arange(n_r) * cv_restarts + np.argmin(train_err, axis=1)
        cv = np.asarray(
            _held_out_error(V, held, cvf.W[chosen], cvf.H[chosen], loss=resolve_loss(loss)),
            np.float64,
        )

    sil_arr = np.asarray(sil)
    best = choose_rank(ks, cv if holdout > 0 else rec, sil_arr, *rule)
    return RankSelection(
        ranks=ks,
        reconstruction_error=rec,
        restart_errors=errors,
        n_iter=main.n_iter.reshape(n_r, restarts),
        converged=main.converged.reshape(n_r, restarts),
        cophenetic=np.asarray(coph),
        dispersion=np.asarray(disp),
        silhouette=sil_arr,
        cv_error=cv,
        consensus_W=tuple(cW),
        consensus_H=tuple(cH),
        best_rank=best,
        loss=main.loss_type,
        min_stability=rule[0],
        error_tol=rule[1],
        holdout=float(holdout),
        n_calls=calls,
    )
