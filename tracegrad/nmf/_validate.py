"""Checks of ``fit``'s inputs, in Python before tracing, with the names and shapes involved.

Values are only inspected when concrete (NumPy or committed JAX arrays); under a user's ``jit``
the arrays are tracers and only their shapes and dtypes are checked.
"""

from __future__ import annotations

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import is_concrete, shape_str
from ._constants import INITS
from ._losses import AbstractLoss, resolve_loss

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _xp(x):
    return np if isinstance(x, np.ndarray) else jnp


def _first_index(bad) -> tuple[int, ...]:
    xp = _xp(bad)
    flat = int(xp.argmax(bad.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, bad.shape))


def _shape(name: str, x) -> str:
    return f"{name} (shape {shape_str(jnp.shape(x))})"


def resolve_dtype(V, dtype) -> np.dtype:
    """The computation dtype: ``dtype`` if given, else ``V``'s if floating, else JAX's default."""
    if dtype is not None:
        dt = np.dtype(dtype)
    else:
        dt = np.dtype(jnp.result_type(V))
        if not np.issubdtype(dt, np.floating):
            dt = np.dtype(jnp.result_type(float))
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"NMF computes in float32 or float64, got dtype {dt} "
            f"(pass dtype=jnp.float32 or jnp.float64)"
        )
    return dt


def check_options(loss, init, max_iter, tol, alpha_W, alpha_H, l1_ratio) -> AbstractLoss:
    """Validate the scalar options; return the loss object (``_losses.resolve_loss``)."""
    loss = resolve_loss(loss)
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    for name, value in (("tol", tol), ("alpha_W", alpha_W)):
        if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (isinstance(alpha_H, str) and alpha_H == "same"):
        if isinstance(alpha_H, str) or not isinstance(alpha_H, numbers.Real):
            raise ValueError(f'alpha_H must be a number >= 0 or "same", got {alpha_H!r}')
        if not np.isfinite(alpha_H) or alpha_H < 0:
            raise ValueError(f"alpha_H must be a finite number >= 0, got {alpha_H!r}")
    if not isinstance(l1_ratio, numbers.Real) or not 0 <= l1_ratio <= 1:
        raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio!r}")
    return loss


def check_data(V, mask, dtype) -> tuple[jax.Array, jax.Array | None]:
    """``V`` and ``mask`` as ``dtype`` arrays, checked; ``V`` zeroed where the mask is zero.

    Raises:
        ValueError: ``V`` is not ``(..., M, N)`` with ``M, N >= 1``; ``mask`` has another shape
            or values other than 0/1, or hides every entry of some problem; observed entries of
            ``V`` are NaN/Inf or negative (the message gives the count and the first index).
    """
    if jnp.ndim(V) < 2:
        raise ValueError(f"V must be a matrix (..., M, N), got {_shape('V', V)}")
    if 0 in jnp.shape(V)[-2:]:
        raise ValueError(f"V must have at least one row and one column, got {_shape('V', V)}")
    observed = None
    if mask is not None:
        if jnp.shape(mask) != jnp.shape(V):
            raise ValueError(
                f"mask must have V's shape: {_shape('mask', mask)} vs {_shape('V', V)}"
            )
        if is_concrete(mask):
            xp = _xp(mask)
            m = xp.asarray(mask)
            bad = (m != 0) & (m != 1)
            if bool(xp.any(bad)):
                idx = _first_index(bad)
                raise ValueError(
                    f"mask must hold only 0 and 1 (or booleans); found {int(xp.sum(bad))} "
                    f"other values, first at index {idx}: {m[idx]}"
                )
            counts = xp.sum(m != 0, axis=(-2, -1))
            if bool(xp.any(counts == 0)):
                which = np.argwhere(np.asarray(counts) == 0)
                where = "" if counts.ndim == 0 else f" (problem {tuple(int(i) for i in which[0])})"
                raise ValueError(f"mask hides every entry of V{where}: nothing left to fit")
            observed = m != 0
    if is_concrete(V):
        xp = _xp(V)
        v = xp.asarray(V)
        if xp.issubdtype(v.dtype, xp.inexact):
            nonfinite = ~xp.isfinite(v)
            if observed is not None:
                nonfinite = nonfinite & observed
            if bool(xp.any(nonfinite)):
                idx = _first_index(nonfinite)
                n_nan = int(xp.sum(xp.isnan(v) & nonfinite))
                n_inf = int(xp.sum(nonfinite)) - n_nan
                raise ValueError(
                    f"V contains {n_nan} NaN and {n_inf} Inf entries"
                    f"{' where the mask is 1' if observed is not None else ''} "
                    f"(first at index {idx}); refusing non-finite input"
                )
        negative = v < 0
        if observed is not None:
            negative = negative & observed
        if bool(xp.any(negative)):
            idx = _first_index(negative)
            raise ValueError(
                f"V has {int(xp.sum(negative))} negative entries"
                f"{' where the mask is 1' if observed is not None else ''} "
                f"(first at index {idx}: {float(v[idx])}); NMF needs V >= 0"
            )
    V = jnp.asarray(V, dtype)
    if mask is not None:
        mask = jnp.asarray(mask, dtype)
        V = jnp.where(mask != 0, V, jnp.zeros((), dtype))
    return V, mask


def check_rank(rank, v_shape: tuple[int, ...], init: str, custom: bool) -> int:
    """``rank`` as an int; an error below 1 or, for NNDSVD, above ``min(M, N)``; else a warning."""
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
        raise ValueError(
            f"rank must be a positive integer, got {rank!r} for V of shape {shape_str(v_shape)}"
        )
    rank = int(rank)
    m, n = v_shape[-2:]
    if rank > min(m, n):
        if not custom and init != "random":
            raise ValueError(
                f"init={init!r} needs rank <= min(M, N) = {min(m, n)} for V of shape "
                f"{shape_str(v_shape)}, got rank {rank}; use init='random'"
            )
        warnings.warn(
            f"rank {rank} exceeds min(M, N) = {min(m, n)} of V's {m}x{n} problems: the "
            f"factorisation has more components than V has rank",
            UserWarning,
            stacklevel=3,
        )
    return rank


def check_factors(W0, H0, v_shape: tuple[int, ...], rank: int, dtype) -> tuple:
    """``W0``, ``H0`` checked against ``V`` and ``rank``; returns them as ``dtype`` arrays.

    Their batch axes must agree with each other and either equal ``V``'s or be absent (then
    they are shared by all problems); an unbatched ``V`` with batched factors fits one
    replicate per factor pair.
    """
    if (W0 is None) != (H0 is None):
        raise ValueError("W0 and H0 must be given together (or neither)")
    if W0 is None:
        return None, None
    m, n = v_shape[-2:]
    for name, x in (("W0", W0), ("H0", H0)):
        if jnp.ndim(x) < 2:
            raise ValueError(f"{name} must be a matrix, got {_shape(name, x)}")
    want_W, want_H = (m, rank), (rank, n)
    got_W, got_H = tuple(jnp.shape(W0)[-2:]), tuple(jnp.shape(H0)[-2:])
    if got_W != want_W or got_H != want_H:
        raise ValueError(
            f"W0 and H0 do not fit V: V has shape {shape_str(v_shape)} and rank is {rank}, so "
            f"W0 must be (..., {m}, {rank}) and H0 (..., {rank}, {n}); got "
            f"{_shape('W0', W0)} and {_shape('H0', H0)}"
        )
    bw, bh, bv = jnp.shape(W0)[:-2], jnp.shape(H0)[:-2], tuple(v_shape[:-2])
    if bw != bh:
        raise ValueError(
            f"W0 and H0 must have the same batch axes: {_shape('W0', W0)} vs {_shape('H0', H0)}"
        )
    if bw and bv and bw != bv:
        raise ValueError(
            f"the batch axes of W0/H0 ({shape_str(bw)}) must match those of V (shape "
            f"{shape_str(v_shape)}), or V must be a single matrix"
        )
    for name, x in (("W0", W0), ("H0", H0)):
        if not is_concrete(x):
            continue
        xp = _xp(x)
        a = xp.asarray(x)
        if bool(xp.any(~xp.isfinite(a))):
            raise ValueError(
                f"{name} contains NaN or Inf (first at index {_first_index(~xp.isfinite(a))})"
            )
        if bool(xp.any(a < 0)):
            raise ValueError(
                f"{name} has {int(xp.sum(a < 0))} negative entries (first at index "
                f"{_first_index(a < 0)}); initial factors must be >= 0"
            )
        if bool(xp.any(xp.max(a, axis=(-2, -1)) == 0)):
            raise ValueError(
                f"{name} is all zeros{' for some problem' if a.ndim > 2 else ''}: "
                f"multiplicative updates cannot move away from zero"
            )
    return jnp.asarray(W0, dtype), jnp.asarray(H0, dtype)


def as_keys(key) -> jax.Array | None:
    """A typed key array from a typed key, a raw ``uint32[..., 2]`` key, an int seed, or None."""
    if key is None:
        return None
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return jax.random.key(int(key))
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if key.dtype == jnp.uint32 and key.ndim >= 1 and key.shape[-1] == 2:
        return jax.random.wrap_key_data(key)
    raise TypeError(
        f"key must be a JAX PRNG key (jax.random.key), a raw uint32 key or an int seed, got "
        f"dtype {key.dtype} and shape {shape_str(key.shape)}"
    )
