"""Time update (prediction) of a linear Gaussian state estimate."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks


def predict(x: jax.Array, P: jax.Array, F: jax.Array, Q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Propagate the estimate ``(x, P)`` through the linear dynamics ``F`` with noise ``Q``.

        x_pred = F x
        P_pred = F P F^T + Q

    (the state and covariance extrapolation equations whose output ``P_pred`` is the prior
    ``P_{n,n-1}`` of the Kalman gain derivation).  ``P_pred`` is symmetrised, ``(M + M^T)/2``.

    Batched over leading axes (which broadcast); dtype-preserving.  Checked before tracing:
    shapes (named in errors), finiteness, ``P`` and ``Q`` symmetric positive semi-definite
    (the same checks as ``equinox.error_if`` guards inside ``jit``).

    Args:
        x: state ``(..., n)``.
        P: covariance ``(..., n, n)``.
        F: state transition ``(..., n, n)``.
        Q: process noise covariance ``(..., n, n)``.

    Returns:
        ``(x_pred, P_pred)`` with shapes ``(..., n)`` and ``(..., n, n)``.

    Raises:
        ValueError: mismatched shapes (named), non-broadcasting batch axes, NaN/Inf in any
            input, a non-symmetric or indefinite ``P`` or ``Q``.
        TypeError: no floating dtype among the inputs, or float16/bfloat16.
    """
    arrays, _ = _checks.common_dtype(x=x, P=P, F=F, Q=Q)
    x, P, F, Q = (arrays[k] for k in ("x", "P", "F", "Q"))
    n = _checks.square("P (covariance)", P)
    _checks.vector("x (state)", x, n, "P")
    _checks.matrix("F (state transition)", F, n, n, "P", "P")
    _checks.matrix("Q (process noise covariance)", Q, n, n, "P", "P")
    _checks.batch_shape(x=(x, 1), P=(P, 2), F=(F, 2), Q=(Q, 2))
    x, P, F, Q = _checks.finite(x=x, P=P, F=F, Q=Q).values()
    P = _checks.covariance("P", P, definite=False)
    Q = _checks.covariance("Q", Q, definite=False)
    x_pred = (F @ x[..., None])[..., 0]
    P_pred = F @ P @ jnp.swapaxes(F, -1, -2) + Q
    return x_pred, _checks.symmetrize(P_pred)
