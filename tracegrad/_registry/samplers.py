"""Building blocks for the identities' samplers: rectangular, positive, SPD, well-conditioned.

Every sampler returns arrays of exactly the requested dtype.  Shapes come from ``dims``: small
distinct sizes for tests (``n=None``), or sizes near ``n`` for benchmarks, always distinct so
that a transposed gradient cannot pass by symmetry.

Samplers are compiled (``Identity.arguments`` jits them, once per dtype and size), so they are
built to compile fast: the random words come from a counter-based hash (``random_bits``)
rather than threefry, a sampler draws all its randomness in one call (``gaussians`` /
``uniforms`` carve one draw into the arrays it needs), and structured matrices are built from
Gaussian blocks (``orthogonal_from``, ``spd_from``, ...) rather than from further draws.
Spectra are fixed ``linspace`` values: under a Haar-random orthogonal factor their order is
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
    if dtype == jnp.float64 and not jax.config.read("jax_enable_x64"):
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


def _mix(x: jax.Array) -> jax.Array:
    """``lowbias32`` (C. Wellons' hash prospector): a full-avalanche bijection of uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _key_seed(key) -> jax.Array:
    """One uint32 seed hashed from all the words of a typed or raw (uint32) JAX key."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = jnp.ravel(key).astype(jnp.uint32)
    seed = jnp.uint32(0x243F6A88)
    for i in range(words.shape[0]):
        seed = _mix(seed ^ words[i])
    return seed


def random_bits(key, size: int) -> jax.Array:
    """``size`` pseudo-random uint32 words: a counter-based hash of the key and the index.

    Word i is ``mix(mix(i * phi + s) ^ (s * c))`` with ``mix`` the lowbias32 bijection and
    ``s`` hashed from the key.  Why not ``jax.random``: a sampler is compiled per dtype
    (``Identity.arguments`` jits it), and compiling threefry is most of the cost of compiling
    a sampler and so of checking the registry; this hash compiles about ten times faster
    (``benchmarks/RESULTS.md``, "Measured design choices").  Its quality (full avalanche, no
    measurable correlation, Box-Muller normals with the right first four moments) is ample
    for test matrices; it is not meant for Monte Carlo.  The same key gives the same words on
    every backend.
    """
    seed = _key_seed(key)
    i = jnp.arange(size, dtype=jnp.uint32)
    return _mix(_mix(i * jnp.uint32(0x9E3779B9) + seed) ^ (seed * jnp.uint32(0x85EBCA6B)))


def _unit_uniform(key, size: int, dtype) -> jax.Array:
    """Uniform ``[0, 1)``: 24 random bits for float32, 53 (from two words) for float64."""
    if jnp.finfo(dtype).nmant > 23:
        b = random_bits(key, 2 * size).reshape(size, 2)
        hi = (b[:, 0] >> 5).astype(dtype) * 2.0**-27
        return hi + (b[:, 1] >> 6).astype(dtype) * 2.0**-53
    return (random_bits(key, size) >> 8).astype(dtype) * 2.0**-24


def _carve(flat: jax.Array, shapes) -> tuple[jax.Array, ...]:
    out, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return tuple(out)


def gaussians(key, dtype, *shapes) -> tuple[jax.Array, ...]:
    """Standard normal arrays of the given shapes, carved from a single draw (Box-Muller)."""
    dtype = float_dtype(dtype)
    total = sum(math.prod(s) for s in shapes)
    half = (total + 1) // 2
    u = _unit_uniform(key, 2 * half, dtype)
    radius = jnp.sqrt(-2.0 * jnp.log1p(-u[:half]))  # 1 - u in (0, 1]: a finite log
    angle = (2.0 * math.pi) * u[half:]
    z = jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)])
    return _carve(z[:total], shapes)


def uniforms(key, dtype, *shapes, low: float = 0.5, high: float = 1.5) -> tuple[jax.Array, ...]:
    """Uniform ``[low, high)`` arrays of the given shapes, carved from a single draw.

    The default range keeps entries safely inside the domain of a log.
    """
    dtype = float_dtype(dtype)
    total = sum(math.prod(s) for s in shapes)
    return _carve(low + (high - low) * _unit_uniform(key, total, dtype), shapes)


def normal(key, shape, dtype) -> jax.Array:
    """Standard normal entries."""
    return gaussians(key, dtype, tuple(shape))[0]


def positive(key, shape, dtype, low: float = 0.5, high: float = 1.5) -> jax.Array:
    """Uniform entries in ``[low, high)``: safely inside the domain of a log."""
    return uniforms(key, dtype, tuple(shape), low=low, high=high)[0]


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
