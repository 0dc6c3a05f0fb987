"""Default comparison tolerances, keyed by dtype: the one place tests and the checker read them.

Errors are measured *normwise*: ``err = max|c - g|`` and the gradient passes when
``err <= atol + rtol * max|g|``.  Elementwise relative error is meaningless for gradients with
entries near zero, and a normwise bound is what the rounding analysis of a matrix product gives.

Two policies:

* **float64** (and any dtype without a more precise one to measure against): the fixed
  ``rtol = 2 ** -(p / 2)`` for a significand of ``p`` bits (the square root of machine epsilon,
  the classic choice of numerical-differentiation checkers).  A closed form and autodiff
  evaluate the same derivative with different operation orders; on the samplers'
  well-conditioned inputs their normwise difference is about ``kappa * n * eps``, far below
  ``2 ** -26.5 = 1.1e-8``, while every structural mistake changes the gradient by an O(1)
  fraction of its norm.
* **float32, float16, bfloat16: from the evidence** (``evidence_rtol``).  The checker
  re-evaluates the gradient in float64 at the same (exactly upcast) inputs, which is the true
  gradient at the point to ~1e-16, and measures how far the float32 computations land from it:
  ``jax.grad`` in float32 (normwise), ``jax.jvp`` in float32 (projected), and, when the
  candidate is a function that also runs in float64, the candidate's own float32 rounding.
  The largest of these is the computation's float32 *noise*, and the tolerance is
  ``NOISE_FACTOR x noise``, never below ``NOISE_FLOOR_ULPS`` ulps of 1 (a computation can be
  exact in float32 where a different evaluation order is not) and never above
  ``NOISE_CAP`` (beyond it float32 cannot resolve the gradient: check in float64).  The fixed
  ``2 ** -12 = 2.4e-4`` of earlier versions was ~800x looser than the noise on the registry's
  inputs and let errors of relative size 1e-5 .. 2.9e-4 pass.

Finite differences are always evaluated in float64 with a fourth-order central stencil; their own
truncation and rounding error is ~1e-10 relative, so they are compared with
``max(rtol(dtype), FD_RTOL_FLOOR)``.  Explicit ``rtol``/``atol`` always override the defaults.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

FD_RTOL_FLOOR = 1e-6
"""Smallest normwise tolerance used against the float64 finite-difference reference."""

NOISE_FACTOR = 10.0
"""Evidence tolerance: this many times the measured low-precision noise of the computation."""

NOISE_FLOOR_ULPS = 16.0
"""Evidence tolerance floor, in ulps of 1 of the dtype (1.9e-6 for float32)."""

NOISE_CAP = 1e-2
"""Evidence tolerance ceiling: noise above ``NOISE_CAP / NOISE_FACTOR`` means the dtype cannot
resolve this gradient; the report says so."""

PATTERN_TOL_FACTOR = 20.0
"""The diagnosis accepts a slip (a transpose, a constant multiple, a missing term) when it
reproduces the candidate to ``PATTERN_TOL_FACTOR x rtol`` (normwise, relative), ``rtol`` being
the check's own tolerance.  One factor for the first- and second-order checkers and the
bridge's shadow mode."""


def _floating(dtype) -> np.dtype:
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(f"tolerances are defined for floating dtypes, got {dtype}")
    return dtype


def default_rtol(dtype) -> float:
    """Fixed normwise relative tolerance for ``dtype``: the square root of its machine epsilon."""
    dtype = _floating(dtype)
    bits = jnp.finfo(dtype).nmant + 1  # significand bits including the implicit one
    return float(2.0 ** (-bits / 2))


def default_atol(dtype) -> float:
    """Absolute floor: a few ulps of 1, so an exactly-zero reference does not demand exact zero."""
    return float(8 * jnp.finfo(_floating(dtype)).eps)


def uses_evidence(dtype) -> bool:
    """True when the checker sets ``dtype``'s tolerance from measured noise (below float64)."""
    dtype = _floating(dtype)
    return jnp.finfo(dtype).bits < 64 and not jnp.issubdtype(dtype, jnp.complexfloating)


def evidence_rtol(dtype, noise: float) -> float:
    """Normwise tolerance from the measured ``noise`` (relative) of a computation in ``dtype``.

    ``clip(NOISE_FACTOR * noise, NOISE_FLOOR_ULPS * eps, NOISE_CAP)``; a NaN noise gives the cap.
    """
    eps = float(jnp.finfo(_floating(dtype)).eps)
    if not math.isfinite(noise):
        return NOISE_CAP
    return float(min(max(NOISE_FACTOR * noise, NOISE_FLOOR_ULPS * eps), NOISE_CAP))


def _check_tol(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def tolerances(dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``dtype``, with explicit values taking precedence.

    Raises:
        TypeError: a non-numeric ``rtol``/``atol`` or a non-floating ``dtype``.
        ValueError: a negative, NaN or infinite ``rtol``/``atol``.
    """
    return (
        default_rtol(dtype) if rtol is None else _check_tol("rtol", rtol),
        default_atol(dtype) if atol is None else _check_tol("atol", atol),
    )
