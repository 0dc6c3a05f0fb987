"""Frobenius loss: ``D = 1/2 ||V - WH||_F^2`` (beta = 2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._contract import w_h
from .._gradients import frobenius_parts_H, frobenius_parts_W
from ._base import AbstractLoss


class Frobenius(AbstractLoss):
    """Half the squared Frobenius distance; masked: ``1/2 sum M (V - WH)^2``.

    Gradient split (trace notes eq. 24, ``traa.eq24_W``/``traa.eq24_H``)::

        W:  grad^- = V H^T        grad^+ = W (H H^T)      (masked: (M * WH) H^T)
        H:  grad^- = W^T V        grad^+ = (W^T W) H      (masked: W^T (M * WH))
    """

    @property
    def beta(self) -> float:
        return 2.0

    @property
    def name(self) -> str:
        return "frobenius"

    def divergence(self, V, W, H, mask=None) -> jax.Array:
        R = V - w_h(W, H)
        if mask is not None:
            R = R * mask
        return 0.5 * jnp.sum(R * R, axis=(-2, -1))

    def mu_parts(self, factor, V, W, H, mask=None):
        parts = frobenius_parts_W if factor == "W" else frobenius_parts_H
        return parts(V, W, H, mask)

    def live_arrays(self, masked: bool) -> int:
        return 3 if masked else 1
