"""Extrapolated multiplicative updates, ``"emu"``; every beta, masks.

Ang & Gillis 2019's extrapolation with restarts (``_extrapolated.AbstractExtrapolation``)
around one multiplicative update of each factor (``_mu``: Févotte & Idier 2011, eq. 3.6,
scikit-learn's numerics)::

    W_n = MU_W(W_y, H_y);   W_y <- max(W_n + beta (W_n - W_{n-1}), W_n / 2)
    H_n = MU_H(W_y, H_y);   H_y <- max(H_n + beta (H_n - H_{n-1}), H_n / 2)

restarting from ``(W_n, H_n)`` when the penalised objective of ``(W_y, H_n)`` rose.  That
objective is the loss's divergence plus the penalties: one more ``W H`` product and pass per
iteration.  Two departures from the NNLS solvers' scheme, both found necessary here (a
96 x 300 KL problem stalled without either):

* the extrapolated point keeps at least half of each entry (``kept``), not ``max(., 0)``:
  MU cannot leave an exact zero, and the first extrapolations zeroed a third of ``H`` for
  good;
* unpenalised, ``W_n``'s columns are scaled to unit sums and ``H_y``'s rows by the inverse
  (``W_n H_y`` unchanged): the pair's scale is a flat direction of the divergence, which the
  extrapolation otherwise follows until ``W`` overflows.  With a penalty the scale is not
  free and nothing is rescaled.

Ang & Gillis's ``gamma``, ``gamma_bar`` for exact NNLS (1.1, 1.05) were the fastest of three
settings on that problem.  The best pair so far is returned, MU's stop rule on it.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._contract import data_of
from .._loss import penalty_value
from ._base import keep
from ._extrapolated import AbstractExtrapolation
from ._mu import mu_H, mu_W

KEPT = 0.5
"""The extrapolated point keeps at least this fraction of each entry (module docstring)."""


class ExtrapolatedMU(AbstractExtrapolation):
    """One MU step per factor, extrapolated (module docstring); every beta-divergence,
    masks."""

    name = "emu"
    frobenius_only = False
    gamma = 1.1
    gamma_bar = 1.05
    kept = KEPT

    def update_W(self, data, W, H, loss, pen, mask, active):
        W = mu_W(data, W, H, loss, pen, mask, active)
        one = jnp.ones((), W.dtype)
        s = jnp.sum(W, axis=-2, keepdims=True)  # (B, 1, K) column sums
        plain = (pen.l1_W == 0) & (pen.l2_W == 0) & (pen.l1_H == 0) & (pen.l2_H == 0)
        s = keep(active, jnp.where((s > 0) & plain, s, one), one)
        return W / s, H * jnp.swapaxes(s, -1, -2)

    def update_H(self, data, W, H, loss, pen, mask, active, update_H, sq_v):
        if update_H:
            H = mu_H(data, W, H, loss, pen, mask, active)
        e = loss.divergence(data_of(data), W, H, mask) + penalty_value(W, H, pen)
        return H, e
