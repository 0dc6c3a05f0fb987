"""Default comparison tolerances, keyed by dtype: the one place tests and the checker read them.

Errors are measured *normwise*: ``err = max|c - g|`` and the gradient passes when
``err <= atol + rtol * max|g|``.  Elementwise relative error is meaningless for gradients with
entries near zero, and a normwise bound is what the rounding analysis of a matrix product gives.

Why ``rtol = 2 ** -(p / 2)`` for a significand of ``p`` bits (the square root of machine epsilon,
the classic choice of numerical-differentiation checkers):

* A closed form and autodiff evaluate the same derivative with different operation orders.  Each
  is a short chain of products, solves and reductions of modest length ``n`` on the samplers'
  well-conditioned inputs (condition numbers kept below ~10 where inverses appear), so their
  normwise difference is about ``kappa * n * eps``: for float32 (eps = 1.2e-7) and ``n`` up to a
  few hundred this stays below ``2 ** -12 = 2.4e-4``; for float64 far below ``2 ** -26.5 = 1.1e-8``.
* Every structural mistake the checker exists to catch (a transpose, a factor of 2, a sign, a
  dropped term) changes the gradient by an O(1) fraction of its norm, thousands of times larger
  than these bounds.

Finite differences are always evaluated in float64 with a fourth-order central stencil; their own
truncation and rounding error is ~1e-10 relative, so they are compared with
``max(rtol(dtype), FD_RTOL_FLOOR)``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

FD_RTOL_FLOOR = 1e-6
"""Smallest normwise tolerance used against the float64 finite-difference reference."""


def default_rtol(dtype) -> float:
    """Normwise relative tolerance for comparing gradients computed in ``dtype``."""
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(f"tolerances are defined for floating dtypes, got {dtype}")
    bits = np.finfo(dtype).nmant + 1  # significand bits including the implicit one
    return float(2.0 ** (-bits / 2))


def default_atol(dtype) -> float:
    """Absolute floor: a few ulps of 1, so an exactly-zero reference does not demand exact zero."""
    return float(8 * np.finfo(jnp.dtype(dtype)).eps)


def tolerances(dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``dtype``, with explicit values taking precedence."""
    return (
        default_rtol(dtype) if rtol is None else float(rtol),
        default_atol(dtype) if atol is None else float(atol),
    )
