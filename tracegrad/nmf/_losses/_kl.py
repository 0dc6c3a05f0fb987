"""Generalised Kullback-Leibler loss: ``D = sum V log(V / WH) - V + WH`` (beta = 1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._constants import EPSILON
from .._contract import w_h
from .._gradients import kl_parts_H, kl_parts_W
from ._base import AbstractLoss
from ._beta import live_arrays_of_wh


class KullbackLeibler(AbstractLoss):
    """The generalised KL divergence, with scikit-learn's conventions.

    Terms with ``V <= EPSILON`` are dropped from ``V log(V / WH)`` and from ``- sum V`` (their
    ``0 log 0`` limit is 0) and ``WH`` is raised to ``EPSILON`` before the logarithm.  Gradient
    split (trace notes eq. 27 for ``tr[V^T log(WH)]`` and eq. 9 for ``sum WH = tr(J W H)``)::

        W:  grad^- = (V / WH) H^T     grad^+ = 1 H^T  (row sums of H; masked: M H^T)
        H:  grad^- = W^T (V / WH)     grad^+ = W^T 1  (column sums of W; masked: W^T M)

    A zero column sum of ``W`` in the ``H`` update becomes 1, as scikit-learn does.
    """

    @property
    def beta(self) -> float:
        return 1.0

    @property
    def name(self) -> str:
        return "kl"

    def divergence(self, V, W, H, mask=None) -> jax.Array:
        WH = w_h(W, H)
        eps = jnp.asarray(EPSILON, WH.dtype)
        observed = V > eps
        ratio = jnp.where(observed, V / jnp.maximum(WH, eps), 1.0)
        data_term = jnp.sum(jnp.where(observed, V * jnp.log(ratio), 0.0), axis=(-2, -1))
        data_sum = jnp.sum(jnp.where(observed, V, 0.0), axis=(-2, -1))
        if mask is None:
            # sum(WH) as (1^T W)(H 1), as scikit-learn computes it: no M x N pass needed.
            sum_WH = jnp.sum(jnp.sum(W, axis=-2) * jnp.sum(H, axis=-1), axis=-1)
        else:
            sum_WH = jnp.sum(mask * WH, axis=(-2, -1))
        return data_term + sum_WH - data_sum

    def mu_parts(self, factor, V, W, H, mask=None):
        if factor == "W":
            return kl_parts_W(V, W, H, mask)
        neg, pos = kl_parts_H(V, W, H, mask)
        return neg, jnp.where(pos == 0, jnp.ones((), pos.dtype), pos)

    def live_arrays(self, masked: bool) -> int:
        return live_arrays_of_wh(masked)
