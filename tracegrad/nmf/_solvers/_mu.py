"""Multiplicative updates (Lee & Seung 2001; Févotte & Idier 2011 for the beta family).

For a factor ``F`` with the split gradient ``(grad^-, grad^+)`` of the loss and penalty
weights ``l1``, ``l2``::

    F <- F * (grad^- / (grad^+ + l1 + l2 F))^gamma

a majorisation-minimisation step, so the penalised objective does not increase (Févotte &
Idier 2011, "Algorithms for nonnegative matrix factorization with the beta-divergence",
eq. 3.6 and Table 1 for ``gamma``).  scikit-learn's details (``_multiplicative_update_w/_h``):
``W`` before ``H``; a zero denominator becomes ``EPSILON``; ``W < eps(float64)`` is zeroed after
its step for ``beta < 1`` and ``H`` likewise for ``beta <= 1``; the product order
``F * (grad^- / den)`` matches its rounding.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._constants import EPSILON, H_FLOOR
from ._base import AbstractDecreaseRule, AbstractStepSolver, keep


def ratio_step(F, neg, pos, l1, l2, active, gamma: float = 1.0):
    """``F * (neg / (pos + l1 + l2 F))^gamma``, a zero denominator replaced by ``EPSILON``."""
    den = pos + l1 + l2 * F
    den = jnp.where(den == 0, jnp.asarray(EPSILON, den.dtype), den)
    ratio = neg / den
    if gamma != 1:
        ratio = ratio**gamma
    if active is not None:
        # frozen problems multiply by exactly 1: fused into this pass, no extra select pass
        ratio = keep(active, ratio, jnp.ones((), ratio.dtype))
    return F * ratio


def floor(F):
    """scikit-learn's stability clamp: entries below float64's epsilon become 0 (idempotent)."""
    return jnp.where(F < H_FLOOR, jnp.zeros((), F.dtype), F)


def mu_W(data, W, H, loss, pen, mask=None, active=None):
    """One MU step for ``W``."""
    neg, pos = loss.mu_parts("W", data, W, H, mask)
    W = ratio_step(W, neg, pos, pen.l1_W, pen.l2_W, active, loss.gamma)
    return floor(W) if loss.floor_W else W


def mu_H(data, W, H, loss, pen, mask=None, active=None):
    """One MU step for ``H``."""
    neg, pos = loss.mu_parts("H", data, W, H, mask)
    H = ratio_step(H, neg, pos, pen.l1_H, pen.l2_H, active, loss.gamma)
    return floor(H) if loss.floor_H else H


class MultiplicativeUpdate(AbstractStepSolver, AbstractDecreaseRule):
    """scikit-learn's ``solver="mu"`` for every beta-divergence, with a mask if given; stops by
    its relative decrease of ``sqrt(2 D)`` every 10 iterations."""

    name = "mu"
    zero_W_start = False
    worker_threads = True
    frobenius_only = False

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        if update_W:
            W = mu_W(data, W, H, loss, pen, mask, active)
        if update_H:
            H = mu_H(data, W, H, loss, pen, mask, active)
        return W, H, None
