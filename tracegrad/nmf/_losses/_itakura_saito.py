"""Itakura-Saito loss: ``D = sum V / WH - log(V / WH) - 1`` (beta = 0)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._constants import EPSILON
from .._contract import w_h
from ._base import AbstractLoss
from ._beta import beta_parts, live_arrays_of_wh


class ItakuraSaito(AbstractLoss):
    """The Itakura-Saito divergence, the beta -> 0 limit of the beta-divergence (Févotte &
    Idier 2011, eq. 2.1), scale invariant; the standard loss for audio power spectra.

    ``V`` must be positive (``fit`` refuses zeros, as scikit-learn does).  As scikit-learn,
    ``WH`` is raised to ``EPSILON`` and the count of entries is the full ``M N`` (masked: the
    observed count).  MU parts: ``grad^- = (V / WH^2) H^T``, ``grad^+ = (1 / WH) H^T``.
    """

    @property
    def beta(self) -> float:
        return 0.0

    @property
    def name(self) -> str:
        return "itakura-saito"

    def divergence(self, V, W, H, mask=None) -> jax.Array:
        WH = w_h(W, H)
        eps = jnp.asarray(EPSILON, WH.dtype)
        observed = V > eps
        div = jnp.where(observed, V / jnp.maximum(WH, eps), 1.0)
        zero = jnp.zeros((), WH.dtype)
        s = jnp.sum(jnp.where(observed, div, zero), axis=(-2, -1))
        logs = jnp.sum(jnp.where(observed, jnp.log(div), zero), axis=(-2, -1))
        # scikit-learn counts all M N entries; V > 0 holds for every observed entry (``fit``
        # refuses zeros), so counting V > 0 is that count, and it leaves out masked entries
        # and the sharded fit's zero padding rows.
        count = jnp.sum((V > 0).astype(WH.dtype), axis=(-2, -1))
        return s - count - logs

    def mu_parts(self, factor, V, W, H, mask=None):
        return beta_parts(0.0, factor, V, W, H, mask)

    def live_arrays(self, masked: bool) -> int:
        return live_arrays_of_wh(masked)
