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
from ._guards import (
    as_data,
    check_dtype_arg,
    check_key,
    check_name,
    check_representable,
    default_dtype,
    eager,
    guard_traced_data,
    scalar_options,
)
from ._losses import AbstractLoss, resolve_loss

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _xp(x):
    """The host checks read every concrete array in NumPy (no eager JAX op: each would compile
    a program of its own)."""
    return np


def _first_index(bad) -> tuple[int, ...]:
    xp = _xp(bad)
    flat = int(xp.argmax(bad.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, bad.shape))


def _shape(name: str, x) -> str:
    return f"{name} (shape {shape_str(jnp.shape(x))})"


def resolve_dtype(V, dtype) -> np.dtype:
    """The computation dtype: ``dtype`` if given, else ``V``'s if floating, else JAX's default.

    A float64 NumPy ``V`` gives float64 whether or not x64 is on (``fit`` scopes it).
    """
    dt = check_dtype_arg(dtype)
    if dt is None:
        dt = default_dtype(as_data("V", V))
        if dt not in SUPPORTED_DTYPES:
            raise TypeError(
                f"V has dtype {dt}; NMF computes in float32 or float64 (pass dtype=jnp.float32 "
                f"or jnp.float64, or convert V)"
            )
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"NMF computes in float32 or float64, got dtype {dt} "
            f"(pass dtype=jnp.float32 or jnp.float64)"
        )
    return dt


def check_options(loss, init, max_iter, tol, alpha_W, alpha_H, l1_ratio) -> AbstractLoss:
    """Validate the options (types, ranges); return the loss object (``_losses.resolve_loss``)."""
    loss = resolve_loss(loss)
    check_name("init", init, INITS)
    scalar_options(max_iter, tol, alpha_W, alpha_H, l1_ratio)
    return loss


def check_data(V, mask, dtype) -> tuple[jax.Array, jax.Array | None]:
    """``V`` and ``mask`` as ``dtype`` arrays, checked; ``V`` zeroed where the mask is zero.

    Concrete values are checked in Python (also when a user's ``jit`` closes over them);
    traced ones by ``equinox.error_if`` (``_guards.guard_traced_data``).

    Raises:
        ValueError: ``V`` is not ``(..., M, N)`` with ``M, N >= 1``; ``mask`` has another shape
            or values other than 0/1, or hides every entry of some problem; observed entries of
            ``V`` are NaN/Inf or negative (the message gives the count and the first index).
    """
    V, mask = _check_data_values(V, mask, dtype)
    V, mask = guard_traced_data("V", V, mask)
    V = jnp.asarray(V, dtype)
    if mask is not None:
        mask = jnp.asarray(mask, dtype)
        V = jnp.where(mask != 0, V, jnp.zeros((), dtype))
    return V, mask


def check_data_host(V, mask, dtype) -> tuple:
    """``check_data``'s checks, on the host only: ``(V, mask, v_max)``.

    Concrete ``V`` and ``mask`` come back as NumPy arrays (a JAX array on the CPU is read in
    place), with ``v_max`` the largest observed entry of each problem (``(B,)``, the range
    check's input); traced ones come back as they are, with ``v_max`` None (the compiled fit
    checks their values, ``_guards.guard_traced_data``).
    """
    V, mask = _check_data_values(V, mask, dtype)
    concrete = is_concrete(V) and (mask is None or is_concrete(mask))
    if not concrete:
        return V, mask, None
    v = np.asarray(V)
    msk = None if mask is None else np.asarray(mask)
    observed = v if msk is None else np.where(msk != 0, v, 0)
    v_max = np.max(observed.reshape((-1,) + observed.shape[-2:]), axis=(-2, -1))
    return v, msk, v_max


@eager
def _check_data_values(V, mask, dtype):
    """``check_data``'s checks in Python: shapes, and the values of concrete arrays."""
    V = as_data("V", V)
    if mask is not None:
        mask = as_data("mask", mask)
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
    if is_concrete(V) and (mask is None or is_concrete(mask)):  # else: guard_traced_data
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
        check_representable(v if observed is None else xp.where(observed, v, 0), dtype)
    return V, mask


def check_rank(rank, v_shape: tuple[int, ...], init: str, custom: bool) -> int:
    """``rank`` as an int; an error below 1 or, for NNDSVD, above ``min(M, N)``; else a warning."""
    if isinstance(rank, (np.ndarray, jax.Array)) and is_concrete(rank) and np.ndim(rank) == 0:
        rank = rank.item() if np.asarray(rank).dtype.kind in "iu" else rank
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


def check_factors_host(W0, H0, v_shape: tuple[int, ...], rank: int, dtype) -> tuple:
    """``_check_factor_values`` on the host: concrete factors come back as NumPy arrays (the
    compiled fit casts them), traced ones as they are (the fit guards their values)."""
    W0, H0 = _check_factor_values(W0, H0, v_shape, rank, dtype)
    if W0 is None:
        return None, None
    return tuple(np.asarray(x) if is_concrete(x) else x for x in (W0, H0))


def check_factors(W0, H0, v_shape: tuple[int, ...], rank: int, dtype) -> tuple:
    """``_check_factor_values``, then ``equinox.error_if`` guards of traced factors."""
    W0, H0 = _check_factor_values(W0, H0, v_shape, rank, dtype)
    if W0 is None:
        return None, None
    W0, _ = guard_traced_data("W0", W0)
    H0, _ = guard_traced_data("H0", H0)
    return jnp.asarray(W0, dtype), jnp.asarray(H0, dtype)


@eager
def _check_factor_values(W0, H0, v_shape: tuple[int, ...], rank: int, dtype) -> tuple:
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
    W0, H0 = as_data("W0", W0), as_data("H0", H0)
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
    return W0, H0


def as_keys(key) -> jax.Array | None:
    """A typed key array from a typed key, a raw ``uint32[..., 2]`` key, an int seed, or None.

    See ``_guards.check_key`` (types, the seed range, empty batches).
    """
    return check_key(key)
