"""Input validation for the Kalman functions: shapes, dtypes and covariance properties.

Shapes are static, so they are checked in Python whatever the inputs.  Values are checked in
Python (NumPy, float64) on concrete inputs, before any tracing; traced inputs (inside a user's
``jit``, ``vmap`` or ``scan``) are guarded by ``equinox.error_if`` instead, which raises at run
time with the same message.

Tolerances (``tracegrad.default_rtol``, the square root of the dtype's epsilon):

* symmetric: ``max|M - M^T| <= rtol * max|M|`` -- covariances produced by arithmetic in the
  dtype are symmetric to a few ulps; a genuinely non-symmetric matrix misses by O(1).
* positive definite (R): the smallest eigenvalue of ``(R + R^T)/2`` exceeds
  ``m * eps * max|lambda|`` -- positive and numerically invertible in the dtype.  Under ``jit``
  the test is that the Cholesky factor is finite.
* positive semi-definite (P, Q): the smallest eigenvalue is at least ``-rtol * max|lambda|``
  (a zero uncertainty is legitimate; rounding may leave tiny negative eigenvalues).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._tolerances import default_rtol
from .._validate import is_concrete, require_finite, shape_str


def common_dtype(**arrays) -> tuple[dict[str, jax.Array], jnp.dtype]:
    """Convert to arrays of one floating dtype (JAX promotion); integer H or F are welcome."""
    converted = {k: jnp.asarray(v) for k, v in arrays.items()}
    dtype = jnp.result_type(*converted.values())
    if not jnp.issubdtype(dtype, jnp.floating):
        listing = ", ".join(f"{k} {v.dtype}" for k, v in converted.items())
        raise TypeError(f"the Kalman functions need floating arrays; got {listing}")
    return {k: v.astype(dtype) for k, v in converted.items()}, dtype


def square(name: str, M: jax.Array) -> int:
    """``M`` is ``(..., k, k)``; returns ``k``."""
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(
            f"{name} must be a square matrix (or a stack of them, shape (..., k, k)), "
            f"got shape {M.shape}"
        )
    return M.shape[-1]


def matrix(name: str, M: jax.Array, rows: int, cols: int, rows_from: str, cols_from: str):
    """``M`` is ``(..., rows, cols)``; the error names where each size comes from."""
    if M.ndim < 2:
        raise ValueError(f"{name} must be a matrix of shape (..., {rows}, {cols}), got {M.shape}")
    if M.shape[-2:] != (rows, cols):
        raise ValueError(
            f"{name} must be {rows}x{cols} ({rows} from {rows_from}, {cols} from {cols_from}), "
            f"got {shape_str(M.shape[-2:])} (full shape {M.shape})"
        )


def vector(name: str, v: jax.Array, size: int, size_from: str):
    """``v`` is ``(..., size)``."""
    if v.ndim < 1 or v.shape[-1] != size:
        raise ValueError(
            f"{name} must be a vector of length {size} (from {size_from}), shape (..., {size}); "
            f"got shape {v.shape}"
        )


def batch_shape(**arrays_and_core) -> tuple[int, ...]:
    """Broadcast the leading (batch) axes; ``name=(array, core_ndim)``."""
    leading = {k: a.shape[: a.ndim - core] for k, (a, core) in arrays_and_core.items()}
    try:
        return tuple(np.broadcast_shapes(*leading.values()))
    except ValueError:
        listing = ", ".join(f"{k} {a.shape}" for k, (a, _) in arrays_and_core.items())
        raise ValueError(
            f"the leading (batch) axes do not broadcast: {listing}; batch axes come before the "
            f"matrix axes and must broadcast like NumPy's"
        ) from None


def finite(**arrays) -> None:
    for name, a in arrays.items():
        require_finite(name, a)


def _first_bad(mask: np.ndarray) -> str:
    if mask.ndim == 0:
        return ""
    return f" (batch index {tuple(int(i) for i in np.argwhere(mask)[0])})"


def covariance(name: str, M: jax.Array, *, definite: bool) -> jax.Array:
    """Check ``M`` is symmetric and positive (semi-)definite; returns ``M`` (guarded in jit)."""
    rtol = default_rtol(M.dtype)
    what = "positive definite" if definite else "positive semi-definite"
    if is_concrete(M):
        a = np.asarray(M, np.float64)
        scale = np.max(np.abs(a), axis=(-2, -1))
        asym = np.max(np.abs(a - np.swapaxes(a, -1, -2)), axis=(-2, -1))
        bad = asym > rtol * scale
        if bad.any():
            raise ValueError(
                f"{name} must be symmetric: max|{name} - {name}^T| = {float(np.max(asym)):.3e} "
                f"exceeds {rtol:.1e} x max|{name}|{_first_bad(bad)}; shape {M.shape}"
            )
        lam = np.linalg.eigvalsh(0.5 * (a + np.swapaxes(a, -1, -2)))
        top = np.max(np.abs(lam), axis=-1)
        if definite:
            bad = lam[..., 0] <= a.shape[-1] * float(jnp.finfo(M.dtype).eps) * top
        else:
            bad = lam[..., 0] < -rtol * top
        if bad.any():
            low = float(np.min(lam[..., 0]))
            raise ValueError(
                f"{name} must be symmetric {what}: its smallest eigenvalue is {low:.3e} "
                f"(largest {float(np.max(top)):.3e}){_first_bad(bad)}; shape {M.shape}"
            )
        return M
    asym = jnp.max(jnp.abs(M - jnp.swapaxes(M, -1, -2)))
    bad = ~(asym <= rtol * jnp.max(jnp.abs(M)))  # NaN counts as bad
    M = eqx.error_if(M, bad, f"{name} must be symmetric (shape {M.shape})")
    if definite:
        chol = jnp.linalg.cholesky(0.5 * (M + jnp.swapaxes(M, -1, -2)))
        M = eqx.error_if(
            M, ~jnp.all(jnp.isfinite(chol)), f"{name} must be symmetric {what} (shape {M.shape})"
        )
    return M


def symmetrize(M: jax.Array) -> jax.Array:
    """``(M + M^T)/2``: exactly symmetric in floating point (addition commutes)."""
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))
