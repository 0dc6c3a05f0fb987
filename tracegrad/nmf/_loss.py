"""The NMF losses: half squared Frobenius distance and generalised Kullback-Leibler divergence.

Both follow scikit-learn's ``_beta_divergence`` (beta = 2 and beta = 1) entry for entry,
including its KL conventions: terms with ``V <= EPSILON`` are dropped from ``V log(V / WH)`` and
from the ``- sum V`` part (their ``0 log 0`` limit is 0), and ``WH`` is raised to ``EPSILON``
before the logarithm, so exact zeros in ``V`` or ``WH`` give a finite loss.

A 0/1 ``mask`` weights every entry (weighted NMF): only observed entries count::

    frobenius:  1/2 sum M * (V - WH)^2
    kl:         sum M * (V log(V / WH) - V + WH)

``V`` must already be zero where the mask is zero (``fit`` guarantees it), so the KL terms in
``V`` drop out there by the ``V <= EPSILON`` rule and only ``sum M * WH`` needs the mask.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._constants import EPSILON
from ._contract import w_h
from ._regularization import Penalty


def divergence(
    V: jax.Array, W: jax.Array, H: jax.Array, loss: str, mask: jax.Array | None = None
) -> jax.Array:
    """The beta-divergence ``D(V, WH)`` per problem: shape ``W.shape[:-2]``.

    Frobenius: ``1/2 ||V - WH||_F^2`` (the objective whose gradient is half of trace notes
    eq. 24).  KL: ``sum V log(V / WH) - V + WH``, whose ``V log WH`` part is the trace of trace
    notes eq. 25.

    Args:
        V: data ``(..., M, N)``, non-negative (zero where ``mask`` is zero).
        W: ``(..., M, K)``.  H: ``(..., K, N)``.
        loss: ``"frobenius"`` or ``"kl"``.
        mask: optional 0/1 weights shaped like ``V``.
    """
    WH = w_h(W, H)
    if loss == "frobenius":
        R = V - WH
        if mask is not None:
            R = R * mask
        return 0.5 * jnp.sum(R * R, axis=(-2, -1))
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


def sqrt_loss(
    V: jax.Array, W: jax.Array, H: jax.Array, loss: str, mask: jax.Array | None = None
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
