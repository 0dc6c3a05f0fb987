"""Hierarchical alternating least squares (HALS), scikit-learn's ``solver="cd"``.

Cichocki & Phan 2009 ("Fast local algorithms for large scale nonnegative matrix and tensor
factorizations"), as scikit-learn's ``_update_coordinate_descent``/``_update_cdnmf_fast``:
for ``W`` with ``G = H H^T + l2_W I`` and ``R = V H^T - l1_W``, the columns ``t = 1..K`` in
turn (each with the columns already updated)::

    grad_t = W G[:, t] - R[:, t]            (the gradient of the penalised loss)
    W[:, t] <- max(W[:, t] - grad_t / G[t, t], 0)        (skipped where G[t, t] = 0)

the exact minimiser of the objective over column ``t``.  Then ``H`` by the same sweep on
``H^T`` with ``G = W^T W + l2_H I`` and ``R = V^T W - l1_H``.  ``violation`` sums
``|projected gradient|`` (``min(grad, 0)`` at a zero entry) over both sweeps: the stop rule.

Batched: the sweep over the ``K`` components is sequential; each component's update is one
vectorised operation over all problems and all rows (rows of one factor are independent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._contract import gram_h, gram_w, v_ht, wt_v
from ._base import AbstractStepSolver, AbstractViolationRule, keep

SWEEP_UNROLL = 1
"""``unroll`` of the ``fori_loop`` over components (column updates per loop trip).  The
sweep used to be unrolled in Python up to rank 32: tens of seconds of compile at rank 32
(``benchmarks/RESULTS.md``, "NMF solver loops").  1 kept: 2, 4 and 8 were no faster in an
exploratory run on a loaded machine; not yet measured on a quiet one."""


def sweep(F, G, R, active, unroll: int = SWEEP_UNROLL):
    """One HALS sweep over the ``K`` rows of ``F (B, K, P)``; returns ``(F, violation (B,))``.

    ``G (B, K, K)`` is the Gram matrix with ``l2`` on its diagonal, ``R (B, K, P)`` the
    cross product minus ``l1``.  A ``fori_loop`` over the rows, its body traced once (the
    program's size does not grow with ``K``); ``unroll`` as ``fori_loop``'s.
    """
    zero = jnp.zeros((), F.dtype)

    def one(t, c):
        F, viol = c
        g = jax.lax.dynamic_index_in_dim(G, t, axis=-2, keepdims=False)  # (B, K)
        r = jax.lax.dynamic_index_in_dim(R, t, axis=-2, keepdims=False)  # (B, P)
        f = jax.lax.dynamic_index_in_dim(F, t, axis=-2, keepdims=False)
        grad = jnp.einsum("...k,...kp->...p", g, F) - r
        pg = jnp.where(f == 0, jnp.minimum(grad, zero), grad)
        viol = viol + jnp.sum(jnp.abs(pg), axis=-1)
        hess = jax.lax.dynamic_index_in_dim(g, t, axis=-1, keepdims=True)  # (B, 1)
        safe = jnp.where(hess != 0, hess, jnp.ones((), F.dtype))
        new = jnp.where(hess != 0, jnp.maximum(f - grad / safe, zero), f)
        new = keep(active, new, f)
        return jax.lax.dynamic_update_index_in_dim(F, new, t, axis=-2), viol

    viol = jnp.zeros(F.shape[:-2], F.dtype)
    return jax.lax.fori_loop(0, F.shape[-2], one, (F, viol), unroll=unroll)


def _diag_add(G, l2):
    return G + l2 * jnp.eye(G.shape[-1], dtype=G.dtype)


def w_system(data, H, pen):
    """``(G, R^T)`` of the ``W`` update: ``H H^T + l2_W I`` and ``(V H^T - l1_W)^T``."""
    G = _diag_add(gram_h(H), pen.l2_W)
    R = jnp.swapaxes(v_ht(data, H) - pen.l1_W, -1, -2)
    return G, R


def h_system(data, W, pen):
    """``(G, R)`` of the ``H`` update: ``W^T W + l2_H I`` and ``W^T V - l1_H``."""
    return _diag_add(gram_w(W), pen.l2_H), wt_v(W, data) - pen.l1_H


class HALS(AbstractStepSolver, AbstractViolationRule):
    """scikit-learn's ``NMF(solver="cd", shuffle=False)``, batched; Frobenius, no mask."""

    name = "hals"
    zero_W_start = True
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        viol = jnp.zeros(W.shape[:-2], W.dtype)
        if update_W:
            G, R = w_system(data, H, pen)
            Wt, v = sweep(jnp.swapaxes(W, -1, -2), G, R, active)
            W, viol = jnp.swapaxes(Wt, -1, -2), viol + v
        if update_H:
            G, R = h_system(data, W, pen)
            H, v = sweep(H, G, R, active)
            viol = viol + v
        return W, H, viol
