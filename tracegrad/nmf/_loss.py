"""Loss values of a fit: the divergence per problem, scikit-learn's square-root error, the penalty.

The divergences themselves live in the loss objects (``_losses``: one module per loss, each
following scikit-learn's ``_beta_divergence`` entry for entry).  A 0/1 ``mask`` weights every
entry (weighted NMF): only observed entries count; ``V`` must already be zero where the mask is
zero (``fit`` guarantees it).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._losses import AbstractLoss, resolve_loss
from ._regularization import Penalty


def divergence(
    V: jax.Array, W: jax.Array, H: jax.Array, loss: str | float | AbstractLoss, mask=None
) -> jax.Array:
    """The beta-divergence ``D(V | WH)`` per problem: shape ``W.shape[:-2]``.

    Args:
        V: data ``(..., M, N)``, non-negative (zero where ``mask`` is zero).
        W: ``(..., M, K)``.  H: ``(..., K, N)``.
        loss: a name of ``LOSSES``, a float beta or a loss object.
        mask: optional 0/1 weights shaped like ``V``.
    """
    return resolve_loss(loss).divergence(V, W, H, mask)


def sqrt_loss(
    V: jax.Array, W: jax.Array, H: jax.Array, loss: str | float | AbstractLoss, mask=None
) -> jax.Array:
    """scikit-learn's reported error: ``sqrt(2 D(V, WH))`` (``||V - WH||_F`` for Frobenius).

    This is the quantity of ``NMF.reconstruction_err_`` and of its convergence test; a
    rounding-negative ``D`` is clamped to 0 first, as there.
    """
    d = divergence(V, W, H, loss, mask)
    return jnp.sqrt(2.0 * jnp.maximum(d, 0.0))


def penalty_value(W: jax.Array, H: jax.Array, pen: Penalty) -> jax.Array:
    """``l1_W sum W + l2_W/2 ||W||^2 + l1_H sum H + l2_H/2 ||H||^2`` per problem (W, H >= 0)."""
    sW = jnp.sum(W, axis=(-2, -1))
    sH = jnp.sum(H, axis=(-2, -1))
    qW = jnp.sum(W * W, axis=(-2, -1))
    qH = jnp.sum(H * H, axis=(-2, -1))
    return pen.l1_W * sW + 0.5 * pen.l2_W * qW + pen.l1_H * sH + 0.5 * pen.l2_H * qH
