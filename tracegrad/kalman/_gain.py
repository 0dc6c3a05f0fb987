"""The Kalman gain K = P H^T (H P H^T + R)^{-1} (Kalman gain derivation, final equation)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gain(P: jax.Array, H: jax.Array, R: jax.Array) -> jax.Array:
    """Optimal gain ``K = P H^T S^{-1}`` with innovation covariance ``S = H P H^T + R``.

    It zeroes ``d tr(P_{n,n})/dK = -2 (H P)^T + 2 K S`` (Kalman gain derivation), found with a
    solve, never an explicit inverse: ``K^T = S^{-1} (H P^T)`` as ``S`` is symmetric.

    Args:
        P: prior covariance ``(..., n, n)``, symmetric positive definite.
        H: observation matrix ``(..., m, n)``.
        R: measurement noise covariance ``(..., m, m)``, symmetric positive definite.

    Returns:
        ``K`` of shape ``(..., n, m)``.
    """
    HP = H @ P
    S = HP @ jnp.swapaxes(H, -1, -2) + R
    return jnp.swapaxes(jnp.linalg.solve(S, HP), -1, -2)
