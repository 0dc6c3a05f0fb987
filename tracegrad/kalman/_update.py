"""Measurement update with the Joseph-form covariance (Kalman gain derivation)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _checks
from ._gain import unchecked_gain


def update(
    x: jax.Array,
    P: jax.Array,
    z: jax.Array,
    H: jax.Array,
    R: jax.Array,
    gain: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Fold the measurement ``z`` into the state estimate ``(x, P)``.

    With the innovation ``y = z - H x`` and gain ``K`` (default the optimal
    ``tracegrad.kalman.gain(P, H, R) = P H^T (H P H^T + R)^{-1}``):

        x_new = x + K y
        P_new = (I - K H) P (I - K H)^T + K R K^T

    the Joseph form, the Covariance Update Equation of the Kalman gain derivation.  It holds
    for any gain, not only the optimal one (so a fixed or steady-state ``gain`` may be passed),
    and it keeps ``P_new`` positive semi-definite where the short form ``(I - K H) P`` loses it
    to rounding.  ``P_new`` is symmetrised, ``(M + M^T)/2``, so it is exactly symmetric.

    Batched over leading axes (which broadcast); dtype-preserving.  Inputs are validated as in
    ``gain`` (shapes named in errors; ``R`` symmetric positive definite, ``P`` symmetric
    positive semi-definite; ``equinox.error_if`` guards inside ``jit``).

    Args:
        x: prior state ``(..., n)``.
        P: prior covariance ``(..., n, n)``.
        z: measurement ``(..., m)``.
        H: observation matrix ``(..., m, n)``.
        R: measurement noise covariance ``(..., m, m)``.
        gain: optional gain ``(..., n, m)``; ``None`` computes the optimal one.

    Returns:
        ``(x_new, P_new)`` with shapes ``(..., n)`` and ``(..., n, n)``.

    Raises:
        ValueError: mismatched shapes (named), non-broadcasting batch axes, NaN/Inf in any
            input, a non-symmetric or non-positive-definite ``R``, a non-symmetric or
            indefinite ``P``.
        TypeError: no floating dtype among the inputs, or float16/bfloat16.
    """
    extra = {} if gain is None else {"gain": gain}
    arrays, _ = _checks.common_dtype(x=x, P=P, z=z, H=H, R=R, **extra)
    x, P, z, H, R = (arrays[k] for k in ("x", "P", "z", "H", "R"))
    n = _checks.square("P (prior covariance)", P)
    m = _checks.square("R (measurement noise covariance)", R)
    _checks.matrix("H (observation matrix)", H, m, n, "R", "P")
    _checks.vector("x (state)", x, n, "P")
    _checks.vector("z (measurement)", z, m, "R")
    core = {"x": (x, 1), "P": (P, 2), "z": (z, 1), "H": (H, 2), "R": (R, 2)}
    if gain is not None:
        _checks.matrix("gain", arrays["gain"], n, m, "P", "R")
        core["gain"] = (arrays["gain"], 2)
    _checks.batch_shape(**core)
    checked = _checks.finite(**{k: a for k, (a, _) in core.items()})
    x, P, z, H, R = (checked[k] for k in ("x", "P", "z", "H", "R"))
    P = _checks.covariance("P", P, definite=False)
    R = _checks.covariance("R", R, definite=True)
    K = checked["gain"] if gain is not None else unchecked_gain(P, H, R)

    y = z - (H @ x[..., None])[..., 0]
    x_new = x + (K @ y[..., None])[..., 0]
    A = jnp.eye(n, dtype=P.dtype) - K @ H
    KT = jnp.swapaxes(K, -1, -2)
    P_new = A @ P @ jnp.swapaxes(A, -1, -2) + K @ R @ KT
    return x_new, _checks.symmetrize(P_new)
