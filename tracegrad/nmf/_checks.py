"""Every check of what a user passes to the NMF entry points, and its in-program counterpart.

The host checks run in Python and NumPy before anything is traced, so a mistake is named with
the array, its shape and the first bad index, and no eager JAX operation (each would compile a
small program of its own) runs before the one compiled program of ``fit``, ``init_factors``
or an ``NMF`` method: option types and ranges (a list for ``loss``, a string ``key``, a float
``max_iter``), dtypes and the x64 policy (float64 data that x64 cannot honour is said so,
never silently truncated), keys and seeds, and the shapes and values of ``V``, ``mask`` and the
factors.  Values are only inspected when concrete (NumPy or committed JAX arrays); under a
user's ``jit`` the arrays are tracers, only their shapes and dtypes are checked here, and their
values are checked inside the program by ``guard_traced_data`` (the last section), which
raises at run time through ``equinox.error_if`` with the same wording.

Rescaling data beyond the dtype's safe float range is not a check: it is ``_scale``'s.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete, shape_str
from ._constants import CHECK_EVERY, INITS
from ._losses import AbstractLoss, resolve_loss

MAX_ITER_LIMIT = 2**31 - 1 - CHECK_EVERY
"""``max_iter`` above this would overflow the loop's int32 iteration counters."""

SEED_RANGE = (-(2**63), 2**63)
"""Integer seeds ``jax.random.key`` accepts (a signed 64-bit integer)."""

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
"""The computation dtypes of every NMF entry point."""


def eager(fn):
    """Run ``fn`` under ``jax.ensure_compile_time_eval``: checks of concrete values (a NumPy
    ``V`` closed over by a user's ``jit``) are computed now, not staged into the trace, so
    their results can be inspected in Python; traced values are staged as usual."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.ensure_compile_time_eval():
            return fn(*args, **kwargs)

    return wrapped


def _x64() -> bool:
    return bool(jax.config.read("jax_enable_x64"))


def _is_real_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _concrete_scalar(x):
    """``x`` as a Python/NumPy scalar if it is a concrete 0-d array, else ``x`` unchanged."""
    if isinstance(x, (np.ndarray, jax.Array)) and is_concrete(x) and np.ndim(x) == 0:
        a = np.asarray(x)
        if a.dtype.kind in "biuf":
            return a.item()
    return x


# ----------------------------------------------------------------------------- options


def real_option(name: str, value, *, lo: float = 0.0, hi: float = math.inf) -> float:
    """A finite real option in ``[lo, hi]`` as a Python float (0-d concrete arrays accepted).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, a list, a traced value).
        ValueError: NaN, infinite, or outside ``[lo, hi]``.
    """
    v = _concrete_scalar(value)
    if not is_concrete(v):
        raise TypeError(
            f"{name} must be a concrete number, got a traced value: NMF options are checked in "
            f"Python before tracing (pass it as a static value)"
        )
    if not _is_real_number(v):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    try:
        v = float(v)
    except OverflowError:  # an int beyond float range
        v = math.inf
    if not math.isfinite(v) or not lo <= v <= hi:
        if hi == math.inf:
            raise ValueError(f"{name} must be a finite number >= {lo:g}, got {value!r}")
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return v


def int_option(name: str, value, *, hi: int | None = None) -> int:
    """A positive integer option (at most ``hi``) as a Python int; 0-d integer arrays accepted.

    Raises:
        ValueError: not an integer (bools and floats included), below 1 or above ``hi``.
    """
    v = _concrete_scalar(value)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 1:
        raise ValueError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if hi is not None and int(v) > hi:
        raise ValueError(f"{name} must be a positive integer <= {hi}, got {value!r}")
    return int(v)


def check_max_iter(max_iter) -> int:
    """``max_iter`` as an int in ``[1, MAX_ITER_LIMIT]`` (the loop counts in int32)."""
    return int_option("max_iter", max_iter, hi=MAX_ITER_LIMIT)


def scalar_options(max_iter, tol, alpha_W, alpha_H, l1_ratio) -> tuple:
    """``fit``'s scalar options checked and as Python numbers (0-d concrete arrays accepted).

    Returns ``(max_iter, tol, alpha_W, alpha_H, l1_ratio)``; ``alpha_H`` may stay ``"same"``.
    """
    max_iter = check_max_iter(max_iter)
    tol = real_option("tol", tol)
    alpha_W = real_option("alpha_W", alpha_W)
    if isinstance(alpha_H, str):
        if alpha_H != "same":
            raise ValueError(f'alpha_H must be a number >= 0 or "same", got {alpha_H!r}')
    else:
        alpha_H = real_option("alpha_H", alpha_H)
    l1_ratio = real_option("l1_ratio", l1_ratio, hi=1.0)
    return max_iter, tol, alpha_W, alpha_H, l1_ratio


def check_name(name: str, value, choices) -> str:
    """``value`` must be one of the string ``choices`` (anything else, a list included: raise).

    Raises:
        ValueError: the message lists the choices.
    """
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be one of {listed}, got {type(value).__name__} {value!r}")
    return value


def check_options(loss, init, max_iter, tol, alpha_W, alpha_H, l1_ratio) -> AbstractLoss:
    """Validate the options (types, ranges); return the loss object (``_losses.resolve_loss``)."""
    loss = resolve_loss(loss)
    check_name("init", init, INITS)
    scalar_options(max_iter, tol, alpha_W, alpha_H, l1_ratio)
    return loss


def check_mesh_axis(mesh, mesh_axis) -> None:
    """``mesh_axis`` without ``mesh`` is a mistake (it would silently run on one device)."""
    if mesh is None and mesh_axis is not None:
        raise ValueError(
            f"mesh_axis={mesh_axis!r} was given without a mesh: pass mesh=jax.sharding.Mesh(...) "
            f"to split the fit, or drop mesh_axis"
        )


def check_bool(name: str, value) -> bool:
    """A Python (or NumPy) bool; anything else is a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


# ----------------------------------------------------------------------- dtypes, x64


def check_dtype_arg(dtype) -> np.dtype | None:
    """``dtype`` as a NumPy dtype (None stays None); a TypeError naming ``dtype`` otherwise."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be float32 or float64 (or None for V's), got {dtype!r}"
        ) from None


def default_dtype(x) -> np.dtype:
    """The computation dtype implied by data ``x``: its own if floating, else JAX's default.

    A float64 NumPy array gives float64 even when x64 is off (``fit`` then scopes
    ``jax.enable_x64``); a list, ints or bools give JAX's default float.
    """
    dt = np.dtype(x.dtype) if hasattr(x, "dtype") else None
    if dt is not None and dt.kind == "f":
        return dt
    return np.dtype(jnp.result_type(float))


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


def warn_x64(name: str, x, where: str) -> None:
    """Say so when float64 data is about to be computed in float32 (x64 off)."""
    if _x64() or np.dtype(getattr(x, "dtype", np.float32)) != np.float64:
        return
    warnings.warn(
        f"{name} is float64 but jax_enable_x64 is off, so {where} computes in float32. Enable "
        f"x64 (jax.config.update('jax_enable_x64', True)) to keep float64, or use "
        f"tracegrad.nmf.fit(..., dtype=numpy.float64), which enables it for the fit only",
        UserWarning,
        stacklevel=4,
    )


def model_dtype(name: str, x, where: str) -> np.dtype:
    """The dtype the NMF building blocks (``init_factors``, ``NMF``) compute data ``x`` in.

    They run under the caller's JAX configuration: ``x``'s floating dtype, or JAX's default
    float for integers, bools and lists; a float64 ``x`` with x64 off becomes float32, with a
    warning (``warn_x64``) instead of JAX's silent truncation.
    """
    dt = default_dtype(x)
    if dt == np.float64 and not _x64():
        warn_x64(name, x, where)
        return np.dtype(np.float32)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(
            f"NMF computes in float32 or float64, got {name} of dtype {dt} (convert it first)"
        )
    return dt


# -------------------------------------------------------------------------------- keys


def check_key(key, make: bool = True) -> jax.Array | None:
    """A typed key array from a typed key, a raw ``uint32[..., 2]`` key, an int seed, or None.

    Int seeds are signed 64-bit (``jax.random.key``'s range); with x64 off a seed beyond
    32 bits is made under a scoped ``jax.enable_x64`` so that its high bits are kept.
    ``make=False`` only checks (no key is made, so nothing is compiled) and returns None.

    Raises:
        TypeError: a string, float, bool or other non-key value.
        ValueError: a seed out of range, or an empty batch of keys.
    """
    if key is None:
        return None
    key = _concrete_scalar(key) if not _is_typed_key(key) else key
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        seed = int(key)
        if not SEED_RANGE[0] <= seed < SEED_RANGE[1]:
            raise ValueError(
                f"key as an int seed must be in [-2**63, 2**63), got {seed}; pass "
                f"jax.random.key(seed % 2**63) or a key array"
            )
        if not make:
            return None
        if not -(2**31) <= seed < 2**31 and not _x64():
            with jax.enable_x64(True):
                return jax.random.key(seed)
        return jax.random.key(seed)
    if isinstance(key, (str, bytes, bool, float, complex)) or not hasattr(key, "dtype"):
        if not isinstance(key, (list, tuple)):
            raise TypeError(
                f"key must be a JAX PRNG key (jax.random.key), a raw uint32 key or an int "
                f"seed, got {type(key).__name__} {key!r}"
            )
        key = as_data("key", key)
    typed = _is_typed_key(key)
    if not typed and not (
        np.dtype(key.dtype) == np.uint32 and key.ndim >= 1 and key.shape[-1] == 2
    ):
        raise TypeError(
            f"key must be a JAX PRNG key (jax.random.key), a raw uint32 key or an int seed, got "
            f"dtype {key.dtype} and shape {shape_str(key.shape)}"
        )
    if 0 in key.shape:
        shape = key.shape if typed else key.shape[:-1]
        raise ValueError(f"key is an empty batch of keys (shape {shape_str(shape)})")
    if not make:
        return None
    if typed:
        return key if isinstance(key, jax.Array) else jnp.asarray(key)
    return jax.random.wrap_key_data(jnp.asarray(key))


def _is_typed_key(x) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def host_key(key) -> tuple[str, Any]:
    """``(kind, array)`` of a checked key (``check_key``'s input) for the program.

    An int seed (or None: seed 0) becomes the raw key data ``jax.random.key(seed)`` would
    hold, computed in Python (no compiled op): the default threefry key of a seed ``s`` is
    ``[s >> 32, s & 0xffffffff]`` of its two's complement, in 32 bits when x64 is off and the
    seed fits (then the high word is 0).  Typed and raw key arrays pass as they are.
    """
    if key is None:
        key = 0
    if not _is_typed_key(key):
        key = _concrete_scalar(key)
    if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
        seed = int(key)
        if not SEED_RANGE[0] <= seed < SEED_RANGE[1]:  # check_key refused it
            raise ValueError(f"key as an int seed must be in [-2**63, 2**63), got {seed}")
        if jax.config.jax_default_prng_impl != "threefry2x32":  # type: ignore[attr-defined]
            return "typed", check_key(seed)
        if _x64() or not -(2**31) <= seed < 2**31:
            u = seed % 2**64
            return "raw", np.array([u >> 32, u & 0xFFFFFFFF], np.uint32)
        return "raw", np.array([0, seed % 2**32], np.uint32)
    if _is_typed_key(key):
        return "typed", key
    if is_concrete(key):  # a raw uint32 (..., 2) key (a list, say), checked by check_key
        key = np.asarray(key, np.uint32)
    return "raw", key


# -------------------------------------------------------------------- data and factors


def as_data(name: str, x):
    """``x`` as an array for checking: NumPy and JAX arrays stay as they are; anything else
    goes through NumPy (a nested list is an array; a SciPy sparse matrix is made dense).

    Raises:
        TypeError: a string, bytes, a ragged or object sequence, or a complex array (NMF data
            and factors are real).
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a real array, got {type(x).__name__}")
    if not isinstance(x, np.ndarray | jax.Array):  # lists, sparse matrices, frames, tensors
        try:
            x = np.asarray(x.toarray() if hasattr(x, "toarray") else x)
        except (ValueError, TypeError) as err:
            raise TypeError(f"{name} must be a real array (a nested list is fine): {err}") from None
    dt = np.dtype(x.dtype) if not jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else None
    if dt is None or dt.kind not in "biuf":
        raise TypeError(
            f"{name} must be a real (bool, integer or floating) array, got dtype {x.dtype}"
            + (" (complex data has no non-negative factorisation)" if dt and dt.kind == "c" else "")
        )
    return x


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


def check_data_host(V, mask, dtype) -> tuple:
    """``V`` and ``mask`` checked on the host: ``(V, mask, v_max)``.

    ``V`` must be ``(..., M, N)`` with ``M, N >= 1``; ``mask`` shaped like it, 0/1, hiding no
    problem entirely; observed entries of ``V`` finite and non-negative (the messages give the
    count and the first index) and representable in ``dtype``.

    Concrete values are read in NumPy (a JAX array on the CPU in place), and ``v_max`` is the
    largest observed entry of each problem (``(B,)``, the range check's input).  NumPy (and
    other host) data comes back as NumPy arrays of ``dtype``, so that integer, bool or float64
    data does not select a compiled program of its own; JAX arrays come back as they are (they
    stay on their device; the program casts them).  Traced ones come back as they are, with
    ``v_max`` None (the compiled fit checks their values, ``guard_traced_data``).
    """
    V, mask = _check_data_values(V, mask, dtype)
    concrete = is_concrete(V) and (mask is None or is_concrete(mask))
    if not concrete:
        return V, mask, None
    v = np.asarray(V)
    msk = None if mask is None else np.asarray(mask)
    observed = v if msk is None else np.where(msk != 0, v, 0)
    v_max = np.max(observed.reshape((-1,) + observed.shape[-2:]), axis=(-2, -1))

    def out(x, x_np):
        if isinstance(x, jax.Array):
            return x
        with np.errstate(over="ignore", invalid="ignore"):  # masked-out entries may not fit
            return x_np.astype(dtype, copy=False)

    return out(V, v), None if mask is None else out(mask, msk), v_max


@eager
def _check_data_values(V, mask, dtype):
    """``check_data_host``'s checks in Python: shapes, and the values of concrete arrays.

    Raises:
        ValueError: ``V`` is not ``(..., M, N)`` with ``M, N >= 1``; ``mask`` has another shape
            or values other than 0/1, or hides every entry of some problem; observed entries of
            ``V`` are NaN/Inf or negative (the message gives the count and the first index).
    """
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


def check_representable(v, dtype) -> None:
    """Refuse data whose largest entry the computation dtype cannot hold.

    Above the dtype's maximum it would become Inf; a largest entry below its smallest normal
    number would be flushed to zero by XLA (CPU and GPU flush subnormals), so the fit would
    silently see an all-zero ``V``.  (Within the range, ``fit`` rescales as needed.)

    Raises:
        ValueError: naming ``V``, its largest entry and the dtype's range.
    """
    xp = np if isinstance(v, np.ndarray) else jnp  # reduce where the data lives
    top = float(xp.max(v)) if np.size(v) else 0.0
    fi = np.finfo(dtype)
    if top > float(fi.max) or 0.0 < top < float(fi.tiny):
        raise ValueError(
            f"V's largest entry {top:.3g} is outside the range of {np.dtype(dtype).name} "
            f"([{float(fi.tiny):.3g}, {float(fi.max):.3g}]); rescale V or use dtype=float64"
        )


def check_transform_data(V_new, H) -> None:
    """``transform``'s new data must have the fitted ``H``'s ``N`` columns: say so naming
    ``V_new`` (``fit`` would blame its ``H0``, which the caller never passed)."""
    shape = np.shape(V_new) if hasattr(V_new, "shape") else np.shape(np.asarray(V_new, object))
    n, k = H.shape[-1], H.shape[-2]
    if len(shape) < 2:
        raise ValueError(
            f"V_new must be a matrix (..., M', N) with N = {n} columns (the fitted H is "
            f"{k}x{n}), got shape {shape_str(shape)}"
        )
    if shape[-1] != n:
        raise ValueError(
            f"V_new must have N = {n} columns, as the fitted H ({k}x{n}); got V_new of shape "
            f"{shape_str(shape)}"
        )


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


def check_factor_pair(W, H, names: tuple[str, str] = ("W", "H")) -> None:
    """``W (..., M, K)`` and ``H (..., K, N)``: real floating, one dtype, sharing ``K``, batch
    axes that broadcast, and (when concrete) finite and non-negative.

    Raises:
        TypeError: not floating arrays, or of two dtypes.
        ValueError: shapes that do not fit, NaN/Inf or negative entries (named).
    """
    nw, nh = names
    for name, x in ((nw, W), (nh, H)):
        if not hasattr(x, "dtype") or not hasattr(x, "shape"):
            raise TypeError(f"{name} must be an array, got {type(x).__name__}")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} must be a real floating-point array, got dtype {x.dtype}")
        if x.ndim < 2:
            raise ValueError(f"{name} must be a matrix (..., rows, cols), got shape {x.shape}")
    if W.dtype != H.dtype:
        raise TypeError(f"{nw} and {nh} must share a dtype, got {W.dtype} and {H.dtype}")
    if W.shape[-1] != H.shape[-2]:
        raise ValueError(
            f"{nw} (..., M, K) and {nh} (..., K, N) must share K: got {nw} shape {W.shape} and "
            f"{nh} shape {H.shape}"
        )
    try:
        jnp.broadcast_shapes(W.shape[:-2], H.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the batch axes of {nw} (shape {W.shape}) and {nh} (shape {H.shape}) do not broadcast"
        ) from None
    for name, x in ((nw, W), (nh, H)):
        if is_concrete(x):
            a = np.asarray(x)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{name} contains NaN or Inf; NMF factors must be finite")
            if np.any(a < 0):
                raise ValueError(
                    f"{name} has {int(np.sum(a < 0))} negative entries; NMF factors must be >= 0"
                )


# ------------------------------------------------- in the program: traced values, results

# The traced counterpart of the host checks above: what only the device knows (a user's
# traced data, the fit's results) is checked inside the compiled program.


NONFINITE = (
    "NMF produced non-finite factors or losses: V's magnitude overflows the computation "
    "dtype (rescale V, or use dtype=float64)"
)


def _observed_bad(x, mask, negative: bool = True):
    bad = ~jnp.isfinite(x)
    if negative:
        bad = bad | (x < 0)
    if mask is not None:
        bad = bad & (mask != 0)
    return jnp.any(bad)


def guard_traced_data(name: str, x, mask=None):
    """``x`` with an ``equinox.error_if`` for NaN, Inf or negative entries when it is traced.

    Concrete inputs are returned unchanged (the host checks above have checked them); a
    traced ``mask`` is checked for values other than 0/1 too, and a concrete ``x`` under a
    traced ``mask`` is guarded here (which entries count is only known at run time).
    """
    if mask is not None and not is_concrete(mask):
        m = jnp.asarray(mask)
        mask = eqx.error_if(
            m, jnp.any((m != 0) & (m != 1)), "mask must hold only 0 and 1 (NaN or other values)"
        )
    if is_concrete(x) and (mask is None or is_concrete(mask)):
        return x, mask
    x = eqx.error_if(
        x,
        _observed_bad(x, mask),
        f"{name} has NaN, Inf or negative entries{' where mask is 1' if mask is not None else ''}"
        f"; NMF needs finite {name} >= 0",
    )
    return x, mask


def prepare_traced_data(V, mask, dtype, guard: bool):
    """The compiled programs' prelude: traced values checked (``guard``:
    ``guard_traced_data``), ``V`` in the factors' ``dtype`` and zero where masked (the mask
    cast to ``dtype`` too).  Returns ``(V, mask)``."""
    if guard:
        V, mask = guard_traced_data("V", V, mask)
    V = jnp.asarray(V, dtype)
    if mask is not None:
        mask = jnp.asarray(mask, dtype)
        V = jnp.where(mask != 0, V, jnp.zeros((), dtype))
    return V, mask
