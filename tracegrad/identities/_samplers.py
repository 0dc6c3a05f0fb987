"""Building blocks for the identities' samplers: rectangular, positive, SPD, well-conditioned.

Every sampler returns arrays of exactly the requested dtype.  Shapes come from ``dims``: small
distinct sizes for tests (``n=None``), or sizes near ``n`` for benchmarks, always distinct so
that a transposed gradient cannot pass by symmetry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_SMALL = (3, 4, 5, 6, 7, 8)


def float_dtype(dtype) -> jnp.dtype:
    """Validate ``dtype``: floating, and float64 only while x64 is enabled."""
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"samplers produce floating arrays, got dtype {dtype}")
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "float64 samples need 64-bit mode: wrap the call in `with jax.enable_x64(True):`"
        )
    return dtype


def dims(n: int | None, k: int) -> tuple[int, ...]:
    """``k`` distinct dimensions: small defaults for ``n=None``, else ``n, n+n/8, n+n/4, ...``."""
    if n is None:
        return _SMALL[:k]
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    step = max(1, n // 8)
    return tuple(n + i * step for i in range(k))


def normal(key, shape, dtype) -> jax.Array:
    """Standard normal entries."""
    return jax.random.normal(key, shape, float_dtype(dtype))


def positive(key, shape, dtype, low: float = 0.5, high: float = 1.5) -> jax.Array:
    """Uniform entries in ``[low, high)``: safely inside the domain of a log."""
    return jax.random.uniform(key, shape, float_dtype(dtype), low, high)


def orthogonal(key, n: int, dtype) -> jax.Array:
    """A Haar-random orthogonal matrix (QR of a Gaussian with the sign fix)."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (n, n), float_dtype(dtype)))
    return q * jnp.sign(jnp.diagonal(r))


def well_conditioned(key, n: int, dtype, cond: float = 4.0) -> jax.Array:
    """``U diag(s) V^T`` with singular values spread in ``[1, cond]``: safe to invert."""
    ku, kv, ks = jax.random.split(key, 3)
    s = jnp.linspace(1.0, cond, n, dtype=float_dtype(dtype))
    s = jax.random.permutation(ks, s)
    return (orthogonal(ku, n, dtype) * s) @ orthogonal(kv, n, dtype).T


def spd(key, n: int, dtype, cond: float = 4.0) -> jax.Array:
    """A symmetric positive-definite matrix with eigenvalues in ``[1, cond]``."""
    kq, ks = jax.random.split(key)
    q = orthogonal(kq, n, dtype)
    lam = jax.random.permutation(ks, jnp.linspace(1.0, cond, n, dtype=float_dtype(dtype)))
    m = (q * lam) @ q.T
    return 0.5 * (m + m.T)
