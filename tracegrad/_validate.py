"""Early, named input validation shared by the checker, the NMF core and the Kalman module.

Everything here runs in Python on concrete values, before tracing, and raises with the names
and shapes involved.  Traced values (inside a user's ``jit``) are passed through untouched: they
cannot be inspected, and the jitted code paths guard themselves with ``equinox.error_if``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.core
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds values we can inspect now (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def require_finite(name: str, x) -> None:
    """Raise ``ValueError`` naming ``name`` if a concrete floating ``x`` holds NaN or Inf."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} Inf entries (first at index {first}); "
            f"refusing non-finite input"
        )


def require_floating(name: str, x) -> None:
    """Raise ``TypeError`` if ``x`` is not a floating-point array."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dtype}")


def require_ndim(name: str, x, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` if ``x.ndim`` is not (one of) ``ndim``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if jnp.ndim(x) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {jnp.shape(x)}")


def shape_str(shape) -> str:
    """``(3, 4)`` as ``3x4``, the spelling used in error messages."""
    return "x".join(str(int(s)) for s in shape) if len(shape) else "scalar"
