"""Building blocks for the identities' samplers: rectangular, positive, SPD, well-conditioned.

Every sampler returns arrays of exactly the requested dtype.  Shapes come from ``dims``: small
distinct sizes for tests (``n=None``), or sizes near ``n`` for benchmarks, always distinct so
that a transposed gradient cannot pass by symmetry.

Samplers are compiled (``Identity.arguments`` jits them), and each random-number kernel costs
compile time, so a sampler draws all its randomness in one call (``gaussians``/``uniforms``
carve one draw into the arrays it needs) and builds structured matrices from Gaussian blocks
(``orthogonal_from``, ``spd_from``, ...) rather than from further draws.  Spectra are fixed
``linspace``/``geomspace`` values: under a Haar-random orthogonal factor their order is
immaterial, so no permutation is drawn.
"""

from __future__ import annotations

import math

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


def _carve(flat: jax.Array, shapes) -> tuple[jax.Array, ...]:
    out, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return tuple(out)


def gaussians(key, dtype, *shapes) -> tuple[jax.Array, ...]:
    """Standard normal arrays of the given shapes, carved from a single draw."""
    total = sum(math.prod(s) for s in shapes)
    return _carve(jax.random.normal(key, (total,), float_dtype(dtype)), shapes)


def uniforms(key, dtype, *shapes, low: float = 0.5, high: float = 1.5) -> tuple[jax.Array, ...]:
    """Uniform ``[low, high)`` arrays of the given shapes, carved from a single draw.

    The default range keeps entries safely inside the domain of a log.
    """
    total = sum(math.prod(s) for s in shapes)
    return _carve(jax.random.uniform(key, (total,), float_dtype(dtype), low, high), shapes)


def normal(key, shape, dtype) -> jax.Array:
    """Standard normal entries."""
    return jax.random.normal(key, shape, float_dtype(dtype))


def positive(key, shape, dtype, low: float = 0.5, high: float = 1.5) -> jax.Array:
    """Uniform entries in ``[low, high)``: safely inside the domain of a log."""
    return jax.random.uniform(key, shape, float_dtype(dtype), low, high)


def scaled(z: jax.Array) -> jax.Array:
    """A Gaussian block rescaled to entry variance ``1 / cols``.

    Its operator norm is about ``1 + sqrt(rows / cols)``, so long products of such factors stay
    O(1) at any size (plain normal entries grow like ``n ** (k/2)`` over ``k`` factors), and
    benchmark-sized objectives stay well scaled in float32.
    """
    return z * (1.0 / math.sqrt(z.shape[-1]))


def orthonormal_from(z: jax.Array) -> jax.Array:
    """Orthonormal columns from the QR of a Gaussian ``m x k`` block (``k <= m``), sign-fixed.

    With the sign fix (``R`` with a positive diagonal) a square block gives a Haar-random
    orthogonal matrix.  Leading batch dimensions are allowed.
    """
    q, r = jnp.linalg.qr(z)
    return q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def spd_from(z: jax.Array, cond: float = 4.0) -> jax.Array:
    """SPD ``Q diag(lambda) Q^T`` from a square Gaussian block; ``lambda`` spans ``[1, cond]``."""
    n = z.shape[-1]
    q = orthonormal_from(z)
    lam = jnp.linspace(1.0, cond, n, dtype=z.dtype)
    m = (q * lam) @ q.T
    return 0.5 * (m + m.T)


def with_singular_values(z: jax.Array, s: jax.Array) -> jax.Array:
    """``U diag(s) V^T`` (n x n), Haar ``U`` and ``V`` from the halves of a Gaussian 2n x n."""
    n = s.shape[-1]
    uv = orthonormal_from(z.reshape(2, n, n))
    return (uv[0] * s) @ uv[1].T


def orthogonal(key, n: int, dtype) -> jax.Array:
    """A Haar-random orthogonal matrix (QR of a Gaussian with the sign fix)."""
    return orthonormal_from(normal(key, (n, n), dtype))


def well_conditioned(key, n: int, dtype, cond: float = 4.0) -> jax.Array:
    """``U diag(s) V^T`` with singular values spread in ``[1, cond]``: safe to invert."""
    return well_conditioned_from(normal(key, (2 * n, n), dtype), cond)


def well_conditioned_from(z: jax.Array, cond: float = 4.0) -> jax.Array:
    """``well_conditioned`` from a Gaussian ``2n x n`` block."""
    n = z.shape[-1]
    return with_singular_values(z, jnp.linspace(1.0, cond, n, dtype=z.dtype))


def spd(key, n: int, dtype, cond: float = 4.0) -> jax.Array:
    """A symmetric positive-definite matrix with eigenvalues in ``[1, cond]``."""
    return spd_from(normal(key, (n, n), dtype), cond)


def unit_determinant_from(z: jax.Array, t: jax.Array, cond: float = 4.0) -> jax.Array:
    """``U diag(s) V^T`` with ``|det| = e^t``, from a Gaussian ``2n x n`` block and a scalar t.

    ``s`` is geometric from ``cond^-1/2`` to ``cond^1/2`` (product 1, condition number
    ``cond``) times ``e^(t/n)``.  With ``t`` in ``[0.25, 1]``, ``|det|`` lies in
    ``[1.28, 2.72]`` at every ``n``: the determinant neither overflows at ``n = 1024`` nor
    equals 1 (which would hide a missing ``det X`` factor).
    """
    n = z.shape[-1]
    half = 0.5 * math.log(cond)
    s = jnp.exp(jnp.linspace(-half, half, n, dtype=z.dtype) + t / n)
    return with_singular_values(z, s)


def simple_top_from(z_u: jax.Array, z_v: jax.Array, gap: float = 2.0) -> jax.Array:
    """An ``m x n`` matrix whose largest singular value is ``gap`` times the next one.

    ``z_u`` (m x k) and ``z_v`` (n x k), ``k = min(m, n)``, are Gaussian blocks.  Singular
    values: ``sigma_1 = 2``, the rest spread in ``[0.25, 2 / gap]``; a simple, well separated
    top singular value, so ``||A||_2`` is differentiable with a stable gradient.
    """
    k = z_u.shape[-1]
    s = jnp.concatenate(
        [jnp.full((1,), 2.0, z_u.dtype), jnp.linspace(2.0 / gap, 0.25, k - 1, dtype=z_u.dtype)]
    )
    return (orthonormal_from(z_u) * s) @ orthonormal_from(z_v).T
