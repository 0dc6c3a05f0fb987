"""Input validation for the Kalman functions: shapes, dtypes and covariance properties.

Shapes are static, so they are checked in Python whatever the inputs.  Values are checked in
Python (NumPy, float64) on concrete inputs, before any tracing; traced inputs (inside a user's
``jit``, ``vmap`` or ``scan``) are guarded by ``equinox.error_if`` instead, which raises at run
time with the same message.

Tolerances (``rtol`` is ``tracegrad.default_rtol``, the square root of the dtype's epsilon;
``lambda`` are the eigenvalues of ``(M + M^T)/2``; ``m`` is the matrix size):

* symmetric: ``max|M - M^T| <= rtol * max|M|`` -- covariances produced by arithmetic in the
  dtype are symmetric to a few ulps; a genuinely non-symmetric matrix misses by O(1).
* positive definite (R): a conditioning threshold.  ``R`` is accepted when
  ``lambda_min > m * eps * lambda_max``, i.e. when its condition number
  ``kappa(R) = lambda_max / lambda_min`` is positive and below ``1 / (m * eps)``, where ``eps``
  is the epsilon of the precision the test runs in.  On concrete inputs the test runs in
  float64 (NumPy, on ``R``'s stored values, whatever its dtype), so ``kappa(R) < 1/(m *
  2.2e-16)``: a float32 ``R = diag(1, 1e-8)`` (``kappa = 1e8``, beyond ``1/eps_32``) is positive
  definite and accepted; only matrices a float64 eigenvalue computation cannot tell from
  singular (or indefinite) are refused.  Under ``jit`` the test is a Cholesky factorisation of
  ``R`` in float64 when x64 is enabled, else in ``R``'s dtype: it succeeds (finite factor) for
  every ``R`` with ``kappa(R)`` below about ``1 / (m * eps)`` of that precision, and for any
  positive diagonal ``R``.  A well-conditioned ``R`` is not required: the gain solves with
  ``S = H P H^T + R``, whose conditioning is what limits the result's accuracy.
* positive semi-definite (P, Q): ``lambda_min >= -rtol * max|lambda|`` (a zero uncertainty is
  legitimate; rounding may leave tiny negative eigenvalues).  Under ``jit`` the same test on
  eigenvalues computed in float64 when x64 is enabled, else in the dtype.
* finite: no NaN or Inf in any input, in Python or (under ``jit``) by ``equinox.error_if``.

Dtypes: float32 and float64 (and integer ``H`` or ``F``, promoted).  float16 and bfloat16 are
refused: their 3-digit epsilon makes the positive-definiteness and symmetry tests above (and
the solve) meaningless, and NumPy has no bfloat16 eigenvalue routine.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._check.tolerances import default_rtol
from .._utils import is_concrete, require_finite, shape_str


def common_dtype(**arrays) -> tuple[dict[str, jax.Array], jnp.dtype]:
    """Convert to arrays of one floating dtype (JAX promotion); integer H or F are welcome."""
    converted = {}
    for k, v in arrays.items():
        try:
            converted[k] = jnp.asarray(v)
        except (TypeError, ValueError):
            raise TypeError(
                f"{k} must be a floating-point array (or nested lists of numbers), "
                f"got {type(v).__name__} {v!r:.60}"
            ) from None
    dtype = jnp.result_type(*converted.values())
    listing = ", ".join(f"{k} {v.dtype}" for k, v in converted.items())
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"the Kalman functions need floating arrays; got {listing}")
    low = [k for k, v in converted.items() if v.dtype in (jnp.float16, jnp.bfloat16)]
    if low:
        raise TypeError(
            f"the Kalman functions need float32 or float64 arrays; {', '.join(low)} "
            f"{'is' if len(low) == 1 else 'are'} half precision ({listing}): it cannot tell a "
            f"covariance from an indefinite matrix (convert with .astype(jnp.float32))"
        )
    return {k: v.astype(dtype) for k, v in converted.items()}, dtype


def square(name: str, M: jax.Array) -> int:
    """``M`` is ``(..., k, k)``; returns ``k``."""
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(
            f"{name} must be a square matrix (or a stack of them, shape (..., k, k)), "
            f"got shape {M.shape}"
        )
    if M.shape[-1] == 0 or M.size == 0:
        raise ValueError(f"{name} is empty (shape {M.shape}): a covariance is at least 1x1")
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


def finite(**arrays: jax.Array) -> dict[str, jax.Array]:
    """Refuse NaN/Inf: in Python when concrete, by ``equinox.error_if`` when traced.

    Returns the arrays (the traced ones carry the guard, so use the returned values).
    """
    out = {}
    for name, a in arrays.items():
        require_finite(name, a)
        if not is_concrete(a):
            a = eqx.error_if(a, ~jnp.all(jnp.isfinite(a)), f"{name} contains NaN or Inf entries")
        out[name] = a
    return out


def _check_precision(M: jax.Array) -> jax.Array:
    """``M`` in float64 when x64 is enabled (traced checks), else as is."""
    if jax.config.read("jax_enable_x64"):
        return M.astype(jnp.float64)
    return M


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
            # the conditioning threshold kappa < 1/(m eps) in the precision of the test, float64
            bad = lam[..., 0] <= a.shape[-1] * float(np.finfo(np.float64).eps) * top
        else:
            bad = lam[..., 0] < -rtol * top
        if bad.any():
            low = float(np.min(lam[..., 0]))
            why = (
                f", not above {a.shape[-1]} x eps_64 x largest (condition number limit "
                f"{1 / (a.shape[-1] * np.finfo(np.float64).eps):.1e})"
                if definite
                else ""
            )
            raise ValueError(
                f"{name} must be symmetric {what}: its smallest eigenvalue is {low:.3e} "
                f"(largest {float(np.max(top)):.3e}){why}{_first_bad(bad)}; shape {M.shape}"
            )
        return M
    asym = jnp.max(jnp.abs(M - jnp.swapaxes(M, -1, -2)))
    bad = ~(asym <= rtol * jnp.max(jnp.abs(M)))  # NaN counts as bad
    M = eqx.error_if(M, bad, f"{name} must be symmetric (shape {M.shape})")
    sym = _check_precision(symmetrize(M))
    if definite:
        chol = jnp.linalg.cholesky(sym)
        diag = jnp.diagonal(chol, axis1=-2, axis2=-1)
        bad = ~(jnp.all(jnp.isfinite(chol)) & jnp.all(diag > 0))
    else:
        lam = jnp.linalg.eigvalsh(sym)
        bad = ~jnp.all(lam[..., 0] >= -rtol * jnp.max(jnp.abs(lam), axis=-1))
    return eqx.error_if(M, bad, f"{name} must be symmetric {what} (shape {M.shape})")


def symmetrize(M: jax.Array) -> jax.Array:
    """``(M + M^T)/2``: exactly symmetric in floating point (addition commutes)."""
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))
