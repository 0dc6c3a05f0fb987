"""The general beta-divergence (Févotte & Idier 2011), and its MU gradient split.

For ``beta`` not in {0, 1, 2}, per entry with ``x = V``, ``y = WH``::

    d_beta(x | y) = (x^beta + (beta - 1) y^beta - beta x y^(beta - 1)) / (beta (beta - 1))

(Févotte & Idier 2011, "Algorithms for nonnegative matrix factorization with the
beta-divergence", eq. 2.1).  Its gradient w.r.t. ``W`` is ``(y^(beta-1) - x y^(beta-2)) H^T``,
split into ``grad^- = (V * WH^(beta-2)) H^T`` and ``grad^+ = WH^(beta-1) H^T`` (their eq. 3.2);
``H`` likewise with ``W^T`` on the left.

scikit-learn's numerical conventions (``_beta_divergence``, ``_multiplicative_update_w/_h``)
are reproduced: in the divergence, terms with ``V <= EPSILON`` are dropped from the ``x``
sums and ``WH`` is raised to ``EPSILON`` there; in the updates, ``WH`` is raised to ``EPSILON``
before the power in ``grad^-`` when ``beta < 2`` and in ``grad^+`` when ``beta < 1``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .._constants import EPSILON
from .._contract import data_of, w_h
from ._base import AbstractLoss


def _eps(x):
    return jnp.asarray(EPSILON, x.dtype)


def beta_parts(beta: float, factor: str, V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` of the beta-divergence for any ``beta`` other than 1 and 2."""
    V = data_of(V)
    WH = w_h(W, H)
    num = jnp.maximum(WH, _eps(WH)) if beta < 2 else WH
    if beta == 0:
        r = 1.0 / num  # scikit-learn's (WH ** -1) ** 2, same rounding
        num = r * r * V
    else:
        num = num ** (beta - 2) * V
    den = jnp.maximum(WH, _eps(WH)) if beta < 1 else WH
    den = den ** (beta - 1)
    if mask is not None:
        den = jnp.where(mask != 0, den, jnp.zeros((), den.dtype))
    if factor == "W":
        return (
            jnp.einsum("...mn,...kn->...mk", num, H),
            jnp.einsum("...mn,...kn->...mk", den, H),
        )
    return jnp.einsum("...mk,...mn->...kn", W, num), jnp.einsum("...mk,...mn->...kn", W, den)


def live_arrays_of_wh(masked: bool) -> int:
    """``live_arrays`` of a loss whose MU step forms ``WH``: ``V``, ``WH`` and a ratio or
    power of it, plus the mask."""
    return 4 if masked else 3


class Beta(AbstractLoss):
    """The beta-divergence for a float ``beta`` outside {0, 1, 2} (those have their own
    modules; ``resolve_loss`` maps them there)."""

    b: float = eqx.field(static=True)

    @property
    def beta(self) -> float:
        return self.b

    @property
    def name(self) -> float:
        return float(self.b)

    def divergence(self, V, W, H, mask=None) -> jax.Array:
        b = self.b
        WH = w_h(W, H)
        eps = _eps(WH)
        observed = V > eps
        zero = jnp.zeros((), WH.dtype)
        WHc = jnp.where(observed, jnp.maximum(WH, eps), 1.0)
        sum_x_wh = jnp.sum(jnp.where(observed, V * WHc ** (b - 1), zero), axis=(-2, -1))
        sum_x = jnp.sum(jnp.where(observed, jnp.where(observed, V, 1.0) ** b, zero), axis=(-2, -1))
        wh_b = WH**b
        if b < 0:  # V > 0 wherever observed (``fit`` refuses zeros): skip masked/padded 0^b
            wh_b = jnp.where(V > 0, wh_b, zero)
        elif mask is not None:
            wh_b = jnp.where(mask != 0, wh_b, zero)
        sum_wh = jnp.sum(wh_b, axis=(-2, -1))
        return (sum_x - b * sum_x_wh + (b - 1) * sum_wh) / (b * (b - 1))

    def mu_parts(self, factor, V, W, H, mask=None):
        return beta_parts(self.b, factor, V, W, H, mask)

    def live_arrays(self, masked: bool) -> int:
        return live_arrays_of_wh(masked)
