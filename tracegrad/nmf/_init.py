"""Initial factors: scikit-learn's ``random`` and NNDSVD schemes (``_initialize_nmf``).

``random``: ``W, H = avg * |N(0, 1)|`` with ``avg = sqrt(mean(V) / K)``, so that ``WH`` starts
at the scale of ``V`` (``E[WH] = K avg^2 E|z|^2 = mean(V)``).  Drawn from a JAX key (scikit-learn
draws from NumPy's ``RandomState``, so the numbers differ; the scaling is the same).

NNDSVD (Boutsidis & Gallopoulos 2008): from the leading ``K`` singular triplets of ``V``, the
first as ``sqrt(s_1) |u_1|, sqrt(s_1) |v_1|``; for each later triplet the positive or negative
parts of ``u_j, v_j`` (whichever pair has the larger product of norms ``sigma``), normalised and
scaled by ``sqrt(s_j sigma)``; entries below ``1e-6`` are then set to zero.  ``nndsvda`` fills
those zeros with ``mean(V)``, ``nndsvdar`` with ``|mean(V) N(0, 1)| / 100``.  The choice
between the parts does not depend on the signs the SVD returns (flipping ``u_j, v_j`` swaps the
two candidates), so the result is deterministic.  scikit-learn uses a randomized SVD; here the SVD
is exact, so the two agree whenever the randomized SVD is exact (``V`` of rank at most ``K + 10``)
and otherwise ours is the exact NNDSVD.

With a mask, ``mean(V)`` is the mean of the observed entries and the SVD is of ``V`` with the
unobserved entries set to zero.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete
from ._checks import (
    NONFINITE,
    as_data,
    check_data_host,
    check_key,
    check_name,
    check_rank,
    host_key,
    model_dtype,
    prepare_traced_data,
)
from ._constants import INITS
from ._scale import pow2, range_exponent_host, traced_range_exponent

NNDSVD_FLOOR = 1e-6
"""NNDSVD entries below this become exactly zero (scikit-learn's ``eps`` default)."""


def observed_mean(V: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean of ``V`` over its last two axes, over observed entries only when ``mask`` is given."""
    if mask is None:
        return jnp.mean(V, axis=(-2, -1))
    return jnp.sum(V * mask, axis=(-2, -1)) / jnp.sum(mask, axis=(-2, -1))


def random_factors(
    key: jax.Array, mean: jax.Array, shape: tuple[int, int, int], dtype
) -> tuple[jax.Array, jax.Array]:
    """``avg * |N(0,1)|`` factors with ``avg = sqrt(mean / K)``, for one problem.

    Args:
        key: a JAX PRNG key.
        mean: scalar mean of the (observed) data.
        shape: ``(M, N, K)``.
        dtype: floating dtype of the factors.
    """
    m, n, k = shape
    avg = jnp.sqrt(mean / k).astype(dtype)
    k_h, k_w = jax.random.split(key)
    H = avg * jnp.abs(jax.random.normal(k_h, (k, n), dtype))
    W = avg * jnp.abs(jax.random.normal(k_w, (m, k), dtype))
    return W, H


def _unit(x: jax.Array, nrm: jax.Array) -> jax.Array:
    # x / ||x|| with 0 for a zero vector (scikit-learn would give NaN; never chosen in practice).
    safe = jnp.where(nrm > 0, nrm, 1.0)
    return jnp.where(nrm > 0, x / safe, 0.0)


def nndsvd_factors(
    V: jax.Array,
    rank: int,
    variant: str = "nndsvd",
    key: jax.Array | None = None,
    mean: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """NNDSVD initial factors of one ``M x N`` problem (``variant``: nndsvd, nndsvda, nndsvdar).

    Args:
        V: ``(M, N)`` non-negative data (zeros where unobserved).
        rank: ``K <= min(M, N)``.
        variant: which zero-filling to apply.
        key: PRNG key, used by ``nndsvdar`` only.
        mean: the (observed) mean of ``V``; defaults to ``V.mean()``.
    """
    if mean is None:
        mean = jnp.mean(V)
    U, S, Vh = jnp.linalg.svd(V, full_matrices=False)
    x, s, y = U[:, :rank], S[:rank], Vh[:rank, :]
    xp, yp = jnp.maximum(x, 0), jnp.maximum(y, 0)
    xn, yn = jnp.abs(jnp.minimum(x, 0)), jnp.abs(jnp.minimum(y, 0))
    xp_n, yp_n = jnp.linalg.norm(xp, axis=0), jnp.linalg.norm(yp, axis=1)
    xn_n, yn_n = jnp.linalg.norm(xn, axis=0), jnp.linalg.norm(yn, axis=1)
    m_p, m_n = xp_n * yp_n, xn_n * yn_n
    use_p = m_p > m_n
    u = jnp.where(use_p, _unit(xp, xp_n), _unit(xn, xn_n))
    v = jnp.where(use_p[:, None], _unit(yp, yp_n[:, None]), _unit(yn, yn_n[:, None]))
    sigma = jnp.where(use_p, m_p, m_n)
    lbd = jnp.sqrt(s * sigma)
    W = lbd * u
    H = lbd[:, None] * v
    # The leading triplet is taken whole, in absolute value.
    W = W.at[:, 0].set(jnp.sqrt(s[0]) * jnp.abs(x[:, 0]))
    H = H.at[0, :].set(jnp.sqrt(s[0]) * jnp.abs(y[0, :]))
    zero = jnp.zeros((), V.dtype)
    W = jnp.where(W < NNDSVD_FLOOR, zero, W)
    H = jnp.where(H < NNDSVD_FLOOR, zero, H)
    if variant == "nndsvda":
        W = jnp.where(W == 0, mean.astype(V.dtype), W)
        H = jnp.where(H == 0, mean.astype(V.dtype), H)
    elif variant == "nndsvdar":
        if key is None:
            raise ValueError("init='nndsvdar' needs a key for its random fill")
        k_w, k_h = jax.random.split(key)
        fill_W = jnp.abs(mean * jax.random.normal(k_w, W.shape, V.dtype) / 100)
        fill_H = jnp.abs(mean * jax.random.normal(k_h, H.shape, V.dtype) / 100)
        W = jnp.where(W == 0, fill_W, W)
        H = jnp.where(H == 0, fill_H, H)
    elif variant != "nndsvd":
        raise ValueError(f"unknown NNDSVD variant {variant!r}")
    return W, H


def initial_factors(
    V: jax.Array, rank: int, init: str, key: jax.Array, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """``init_factors`` without its checks: ``fit`` calls this on data it has checked."""
    mean = observed_mean(V, mask)
    if init == "random":
        m, n = V.shape
        return random_factors(key, mean, (m, n, rank), V.dtype)
    return nndsvd_factors(V, rank, init, key, mean)


@functools.partial(
    jax.jit, static_argnames=("rank", "init", "dtype", "typed_key", "guard", "rescaled")
)
def _init_program(V, mask, key, k, *, rank, init, dtype, typed_key, guard, rescaled):
    """``init_factors`` after its host checks, as one compiled program: the dtype cast and
    masking of ``V``, its values checked when traced (``guard``), the exact power-of-four
    rescaling (``k`` from the host; computed here when ``guard``; skipped when not
    ``rescaled``, so in-range data runs the unscaled program), the factors, the finite flag
    and the unscaling.  Returns ``(W, H, finite)``."""
    dt = np.dtype(dtype)
    V, mask = prepare_traced_data(V, mask, dt, guard)
    if guard:
        k = traced_range_exponent(V, dt, 2.0)
    if rescaled:
        V = V * pow2(-2 * k, dt)
    keys = key if typed_key else jax.random.wrap_key_data(key)
    W, H = initial_factors(V, rank, init, keys, mask)
    if rescaled:
        W, H = W * pow2(k, dt), H * pow2(k, dt)
    finite = jnp.all(jnp.isfinite(W)) & jnp.all(jnp.isfinite(H))
    return W, H, finite


def init_factors(
    V, rank: int, init: str = "random", key=None, mask: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Initial ``(W, H)`` of one ``M x N`` problem by scheme ``init`` (zero-filled where masked).

    The schemes are scikit-learn's ``_initialize_nmf`` (module docstring).  Checked as ``fit``
    checks: ``V`` real, finite and non-negative where observed (under ``jit``, by
    ``equinox.error_if``), ``mask`` 0/1 and shaped like ``V``, ``rank`` a positive integer at
    most ``min(M, N)`` for NNDSVD (a warning above it for ``"random"``), ``key`` one PRNG key
    or int seed (default ``jax.random.key(0)``).  Data beyond the dtype's safe range is
    initialised on an exact power-of-4 rescaling (``_scale``), so large or tiny data gives
    finite factors at its own scale.  Computes in ``V``'s floating dtype (JAX's default float
    for integer data); a float64 ``V`` with x64 off is computed in float32, with a warning.
    The checks run on the host and the rest is one compiled program per shape, dtype, rank and
    scheme (new data or keys compile nothing).

    Args:
        V: ``(M, N)`` non-negative data.
        rank: number of components ``K``.
        init: ``"random"``, ``"nndsvd"``, ``"nndsvda"`` or ``"nndsvdar"``.
        key: a single JAX PRNG key or int seed (used by ``"random"`` and ``"nndsvdar"``).
        mask: optional 0/1 array shaped like ``V``.

    Returns:
        ``W (M, K)`` and ``H (K, N)``.

    Raises:
        ValueError: bad ``V``, ``mask``, ``rank``, ``init`` or ``key`` values (named).
        TypeError: ``V``/``mask`` not real arrays; ``key`` not a key or seed.
    """
    init = check_name("init", init, INITS)
    V = as_data("V", V)
    if np.ndim(V) != 2:
        raise ValueError(
            f"V must be one (M, N) matrix for init_factors, got shape {np.shape(V)} "
            f"(vmap it, or use fit, for a batch)"
        )
    dt = model_dtype("V", V, "init_factors")
    V, mask, v_max = check_data_host(V, mask, dt)
    rank = check_rank(rank, np.shape(V), init, False)
    check_key(key, make=False)
    kind, key_arr = host_key(key)
    shape = np.shape(key_arr) if kind == "typed" else np.shape(key_arr)[:-1]
    if shape != ():
        raise ValueError(f"key must be a single PRNG key for init_factors, got shape {shape}")
    guard = v_max is None  # traced data (a user's jit): checked and rescaled in the program
    m, n = np.shape(V)
    k = 0 if guard else range_exponent_host(np.asarray(v_max).astype(dt), dt, 2.0, m * n)
    W, H, finite = _init_program(
        V, mask, key_arr, np.asarray(k, np.int32), rank=rank, init=init, dtype=dt.name,
        typed_key=kind == "typed", guard=guard, rescaled=guard or k != 0,
    )  # fmt: skip
    if not is_concrete(finite):  # under a user's jit
        return eqx.error_if(W, ~finite, NONFINITE), H
    if not bool(np.asarray(finite)):
        raise ValueError(NONFINITE)
    return W, H
