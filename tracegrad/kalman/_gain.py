"""The Kalman gain K = P H^T (H P H^T + R)^{-1} (Kalman gain derivation, final equation)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks


def validated(P, H, R) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``P, H, R`` as arrays of one floating dtype, shapes and covariances checked."""
    arrays, _ = _checks.common_dtype(P=P, H=H, R=R)
    P, H, R = arrays["P"], arrays["H"], arrays["R"]
    n = _checks.square("P (prior covariance)", P)
    m = _checks.square("R (measurement noise covariance)", R)
    _checks.matrix("H (observation matrix)", H, m, n, "R", "P")
    _checks.batch_shape(P=(P, 2), H=(H, 2), R=(R, 2))
    P, H, R = _checks.finite(P=P, H=H, R=R).values()
    P = _checks.covariance("P", P, definite=False)
    R = _checks.covariance("R", R, definite=True)
    return P, H, R


def unchecked_gain(P: jax.Array, H: jax.Array, R: jax.Array) -> jax.Array:
    """``gain`` without validation, for callers that validated already."""
    HP = H @ P
    S = _checks.symmetrize(HP @ jnp.swapaxes(H, -1, -2) + R)
    batch = jnp.broadcast_shapes(S.shape[:-2], HP.shape[:-2])
    S = jnp.broadcast_to(S, batch + S.shape[-2:])
    HP = jnp.broadcast_to(HP, batch + HP.shape[-2:])
    return jnp.swapaxes(jnp.linalg.solve(S, HP), -1, -2)


def gain(P: jax.Array, H: jax.Array, R: jax.Array) -> jax.Array:
    """Optimal gain ``K = P H^T S^{-1}`` with innovation covariance ``S = H P H^T + R``.

    The gain minimises ``tr(P_{n,n})`` of the Covariance Update Equation
    ``P_{n,n} = (I - K H) P (I - K H)^T + K R K^T``: its derivative
    ``d tr(P_{n,n})/dK = -2 (H P)^T + 2 K S`` (registry identity
    ``kalman.trace_posterior_covariance``) vanishes at ``K = P H^T S^{-1}`` (Kalman gain
    derivation, "Kalman Gain Equation").  Computed with a solve, never an explicit inverse:
    ``K^T = S^{-1} (H P)``, as ``S`` and ``P`` are symmetric (``S`` symmetrised first).

    Batched over leading axes, which broadcast (a shared ``H`` or ``R`` needs no copies).
    Inputs are checked before tracing (shapes, finiteness, ``P`` symmetric positive
    semi-definite, ``R`` symmetric positive definite: a conditioning threshold,
    ``kappa(R) < 1/(m eps)``, stated in ``tracegrad.kalman``); inside ``jit`` the finiteness and
    covariance checks are ``equinox.error_if`` guards.  The result has the inputs' common
    floating dtype (float32 or float64).

    Args:
        P: prior covariance ``(..., n, n)``, symmetric positive semi-definite.
        H: observation matrix ``(..., m, n)``.
        R: measurement noise covariance ``(..., m, m)``, symmetric positive definite.

    Returns:
        ``K`` of shape ``(..., n, m)``.

    Raises:
        ValueError: mismatched shapes (named), non-broadcasting batch axes, NaN/Inf,
            non-symmetric or non-positive-definite ``R``, non-symmetric or indefinite ``P``.
        TypeError: no floating dtype among the inputs, or float16/bfloat16.
    """
    return unchecked_gain(*validated(P, H, R))
