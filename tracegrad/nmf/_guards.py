"""Guards shared by every public NMF entry point: argument types, traced values, float range.

``_validate`` checks shapes and concrete values before tracing; this module adds what it
cannot: arguments of the wrong *type* (a list for ``loss``, a string ``key``, a float
``max_iter``), values under a user's ``jit`` (``equinox.error_if``, which raises at run time
with the message given here), float64 data that x64 cannot honour, and data whose magnitude
would overflow or underflow the computation dtype.

Float range.  The NMF problem is scale-equivariant: for ``c > 0``, minimising the penalised
beta-divergence of ``V`` from ``(W, H)`` is minimising that of ``V / c`` from
``(W / sqrt(c), H / sqrt(c))`` with the penalties rescaled, because ``D_beta(cX | cY) =
c^beta D_beta(X | Y)`` (the scale property of the beta-divergence, Fevotte & Idier 2011,
"Algorithms for nonnegative matrix factorization with the beta-divergence")::

    D(V | WH) + l1 |W|_1 + l2/2 |W|^2 = c^beta [ D(V' | W'H') + l1 c^(1/2 - beta) |W'|_1
                                                 + l2/2 c^(1 - beta) |W'|^2 ]

(the same for ``H``).  When the largest observed entry of ``V`` lies outside the range where
the losses and the update products are representable (``safe_exponent_range``), ``fit``
computes on ``V' = V / 4^k`` with ``W0, H0`` divided by ``2^k`` and the penalties rescaled as
above, then multiplies ``W, H`` by ``2^k`` and the square-root losses by ``2^(k beta)``.  The
scale is a power of four, so every rescaling of data and factors is exact (no rounding), and
data inside the range is never rescaled: the iterates of ordinary data, and scikit-learn
parity, are untouched.  Under a user's ``jit`` the exponent is computed in the program
(``traced_range_exponent``; in-range data multiplies by exactly 1).
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validate import is_concrete, shape_str
from ._constants import CHECK_EVERY, EPSILON

MAX_ITER_LIMIT = 2**31 - 1 - CHECK_EVERY
"""``max_iter`` above this would overflow the loop's int32 iteration counters."""

HISTORY_CHECKS = 10_000
"""At most ``HISTORY_CHECKS + 1`` loss-history entries are kept per problem (see
``history_stride``): ``max_iter = 10**9`` must not allocate a history of 10**8 entries."""

SEED_RANGE = (-(2**63), 2**63)
"""Integer seeds ``jax.random.key`` accepts (a signed 64-bit integer)."""


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


def history_stride(max_iter: int) -> int:
    """Convergence checks per recorded history entry: 1 up to ``HISTORY_CHECKS`` checks.

    Entry ``j`` of ``loss_history`` is the loss after iteration ``CHECK_EVERY * stride * j``;
    the history has ``(max_iter // CHECK_EVERY) // stride + 1`` entries, at most
    ``HISTORY_CHECKS + 1``.  Every check still runs the convergence test; only the record is
    thinned.
    """
    checks = max_iter // CHECK_EVERY
    return max(1, -(-checks // HISTORY_CHECKS))


def check_mesh_axis(mesh, mesh_axis) -> None:
    """``mesh_axis`` without ``mesh`` is a mistake (it would silently run on one device)."""
    if mesh is None and mesh_axis is not None:
        raise ValueError(
            f"mesh_axis={mesh_axis!r} was given without a mesh: pass mesh=jax.sharding.Mesh(...) "
            f"to split the fit, or drop mesh_axis"
        )


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


def default_dtype(x) -> np.dtype:
    """The computation dtype implied by data ``x``: its own if floating, else JAX's default.

    A float64 NumPy array gives float64 even when x64 is off (``fit`` then scopes
    ``jax.enable_x64``); a list, ints or bools give JAX's default float.
    """
    dt = np.dtype(x.dtype) if hasattr(x, "dtype") else None
    if dt is not None and dt.kind == "f":
        return dt
    return np.dtype(jnp.result_type(float))


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


# ----------------------------------------------------------------------- traced values


def _observed_bad(x, mask, negative: bool = True):
    bad = ~jnp.isfinite(x)
    if negative:
        bad = bad | (x < 0)
    if mask is not None:
        bad = bad & (mask != 0)
    return jnp.any(bad)


def guard_traced_data(name: str, x, mask=None):
    """``x`` with an ``equinox.error_if`` for NaN, Inf or negative entries when it is traced.

    Concrete inputs are returned unchanged (``_validate`` has checked them in Python); a
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


def guard_outputs(W, H, losses=()):
    """Refuse non-finite results (an overflow the range check could not foresee).

    Concrete results: a ``ValueError`` naming ``V``; traced ones: ``equinox.error_if``.
    """
    msg = (
        "NMF produced non-finite factors or losses: V's magnitude overflows the computation "
        "dtype (rescale V, or use dtype=float64)"
    )
    leaves = (W, H, *losses)
    if all(is_concrete(x) for x in leaves):
        if not bool(_all_finite(leaves)):  # one fused reduction, one sync
            raise ValueError(msg)
        return W, H
    return eqx.error_if(W, ~_all_finite(leaves), msg), H


@jax.jit
def _all_finite(leaves) -> jax.Array:
    ok = jnp.ones((), bool)
    for x in leaves:
        ok = ok & jnp.all(jnp.isfinite(x))
    return ok


# --------------------------------------------------------------------------- float range


def loss_beta(loss) -> float:
    """The beta of a loss: ``"frobenius"`` 2, ``"kl"`` 1, or an object's ``beta`` attribute."""
    if isinstance(loss, str):
        named = {"frobenius": 2.0, "kl": 1.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}
        return named.get(loss, 0.0 if loss == "is" else 2.0)
    if _is_real_number(loss):
        return float(loss)
    beta = getattr(loss, "beta", None)
    return 2.0 if beta is None else float(beta)


def safe_exponent_range(dtype, beta: float, size: int) -> tuple[int, int]:
    """``(lo, hi)``: ``V``'s largest entry should lie in ``[2^lo, 2^hi]``.

    Every quantity of the updates and losses is a power ``p <= max(2, |beta|, |beta - 2|)`` of
    the data's scale summed over at most ``size`` entries, so ``|log2 max V| * p +
    log2(size) + 8`` bits (a margin for the rank and the factors' spread) must stay inside the
    dtype's exponent range.  For beta < 2 the lower end is also at least ``2^10 EPSILON``:
    below that scikit-learn's ``EPSILON`` clamps (KL drops ``V <= EPSILON``) would dominate.
    """
    fi = np.finfo(dtype)
    e = min(fi.maxexp, -fi.minexp)
    p = max(2.0, abs(beta), abs(beta - 2.0))
    half = int((e - math.log2(max(size, 1)) - 8) / p)
    half = max(half, 1)
    lo = -half
    if beta < 2:
        lo = max(lo, int(math.floor(math.log2(EPSILON))) + 10)
    return lo, half


@eager
def range_exponent(V, dtype, beta: float) -> int | jax.Array:
    """``k`` such that ``V / 4^k`` is in the safe range (0 when ``V`` already is).

    A traced ``V`` (a user's ``jit``) gets ``traced_range_exponent``: an int32 scalar of the
    program, without the batch-spread refusal.

    ``V`` is the checked data (zero where masked).  ``k`` brings the largest entry near 1.

    Raises:
        ValueError: the problems of a batch differ so much in scale that no single scale puts
            all of them in range (fit them separately).
    """
    if not is_concrete(V):
        return traced_range_exponent(V, dtype, beta)
    per_problem = jnp.max(V, axis=(-2, -1)) if V.ndim > 2 else jnp.max(V)[None]
    per_problem = np.asarray(per_problem, np.float64).reshape(-1)
    top = float(per_problem.max())
    if top == 0.0:
        return 0
    lo, hi = safe_exponent_range(dtype, beta, V.shape[-1] * V.shape[-2])
    e = math.log2(top)
    if lo <= e <= hi:
        return 0
    k = int(round(e / 2))  # V / 4^k has its largest entry within a factor 2 of 1
    positive = per_problem[per_problem > 0]
    e_small = math.log2(float(positive.min())) - 2 * k
    if e_small < lo:
        raise ValueError(
            f"V's problems differ too much in scale for one fit in {np.dtype(dtype).name}: "
            f"largest entries from {float(positive.min()):.3g} to {top:.3g}; safe range of the "
            f"largest entry is [2^{lo}, 2^{hi}] after one common rescaling. Fit them "
            f"separately, or use dtype=float64"
        )
    return k


def traced_range_exponent(V, dtype, beta: float) -> jax.Array:
    """``range_exponent`` computed inside the program (int32; 0 for data in range)."""
    lo, hi = safe_exponent_range(dtype, beta, V.shape[-1] * V.shape[-2])
    top = jnp.max(V)
    e = jnp.log2(jnp.where(top > 0, top, jnp.ones((), top.dtype)))
    need = (top > 0) & ((e < lo) | (e > hi))
    return jnp.where(need, jnp.round(e / 2), 0).astype(jnp.int32)


def _pow2(e, dtype):
    """``2^e`` as a ``dtype`` scalar: exact (``ldexp``) for a traced integer exponent."""
    if isinstance(e, int | float):
        return jnp.asarray(2.0**e, dtype)
    return jnp.ldexp(jnp.ones((), dtype), e.astype(jnp.int32))


def _pow2_times(e_per_k: float, k, dtype):
    """``2^(e_per_k k)`` for an int ``k``, Python or traced (exact when ``e_per_k`` is an
    integer)."""
    if float(e_per_k).is_integer():
        return _pow2(k * int(e_per_k), dtype)
    if isinstance(k, int):
        return jnp.asarray(2.0 ** (k * e_per_k), dtype)
    return jnp.exp2((k * e_per_k).astype(dtype))


def rescale_inputs(k, beta: float, dtype, V, W0, H0, pen):
    """``V / 4^k``, ``W0 / 2^k``, ``H0 / 2^k`` (None stays None) and the penalties for them.

    ``k`` is ``range_exponent``'s: a Python int (nothing happens for 0: ordinary data runs
    the unchanged program) or a traced int32 (the multiplications are by exactly 1 when it
    is 0, so results are bit-identical).
    """
    if isinstance(k, int):
        if k == 0:
            return V, W0, H0, pen
        down = jnp.asarray(2.0**-k, dtype)
        V = V * jnp.asarray(4.0**-k, dtype)
        W0 = None if W0 is None else W0 * down
        H0 = None if H0 is None else H0 * down
        return V, W0, H0, scale_penalty(pen, k, beta, dtype)
    down = _pow2(-k, dtype)
    V = V * _pow2(-2 * k, dtype)
    W0 = None if W0 is None else W0 * down
    H0 = None if H0 is None else H0 * down
    f1 = _pow2_times(1.0 - 2.0 * beta, k, dtype)  # c^(1/2 - beta)
    f2 = _pow2_times(2.0 * (1.0 - beta), k, dtype)  # c^(1 - beta)

    def scaled(w, f):
        w = jnp.asarray(w, dtype)
        return jnp.where(w == 0, w, w * f)  # a zero weight stays zero (never 0 * inf)

    pen = type(pen)(
        l1_W=scaled(pen.l1_W, f1),
        l1_H=scaled(pen.l1_H, f1),
        l2_W=scaled(pen.l2_W, f2),
        l2_H=scaled(pen.l2_H, f2),
    )
    return V, W0, H0, pen


def unscale_outputs(k, beta: float, dtype, W, H, history, final):
    """The results of the rescaled fit in ``V``'s units (``rescale_inputs`` undone)."""
    if isinstance(k, int) and k == 0:
        return W, H, history, final
    up = _pow2(k, dtype)
    history, final = unscale_losses(k, beta, dtype, history, final)
    return W * up, H * up, history, final


def loss_unit(k, beta: float) -> float:
    """The factor from the rescaled fit's square-root losses to ``V``'s units, on the host
    (progress reports); 1 for a traced ``k`` (reports under a user's ``jit`` stay scaled)."""
    return 2.0 ** (k * beta) if isinstance(k, int) else 1.0


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


def pow2(k, dtype):
    """``2^k`` as a ``dtype`` scalar, exact for an integer ``k`` (Python or traced int)."""
    return _pow2(k, dtype)


def scale_penalty(pen, k: int, beta: float, dtype):
    """Penalty weights for data divided by ``c = 4^k`` (module docstring).

    Scaled in float64 from the concrete weights, so a zero weight stays exactly zero.
    """
    l1 = 2.0 ** (k * (1.0 - 2.0 * beta))  # c^(1/2 - beta)
    l2 = 2.0 ** (2.0 * k * (1.0 - beta))  # c^(1 - beta)

    def scaled(w, f):
        return jnp.asarray(float(w) * f, dtype) if float(w) != 0.0 else jnp.asarray(w, dtype)

    return type(pen)(
        l1_W=scaled(pen.l1_W, l1),
        l1_H=scaled(pen.l1_H, l1),
        l2_W=scaled(pen.l2_W, l2),
        l2_H=scaled(pen.l2_H, l2),
    )


def unscale_losses(k: int | jax.Array, beta: float, dtype, *losses):
    """Square-root losses of the rescaled problem in ``V``'s units: times ``2^(k beta)`` (a
    divergence: ``2 k``).

    ``k`` may be traced (a user's ``jit``).  Warns, for concrete values, when the true value
    is beyond the dtype's range (it then reads ``inf``) or below its smallest positive number
    (it then reads 0).
    """
    half = k // 2  # the power in two halves: neither over- or underflows where the product
    #                doesn't (the divergence of data near the range's edge, say)
    f1, f2 = _pow2_times(beta, half, dtype), _pow2_times(beta, k - half, dtype)
    out = tuple(x * f1 * f2 for x in losses)
    concrete = [(x, y) for x, y in zip(losses, out, strict=True) if is_concrete(x)]
    name = np.dtype(dtype).name
    if all(bool(jnp.all(jnp.isfinite(x))) for x, _ in concrete):
        if not all(bool(jnp.all(jnp.isfinite(y))) for _, y in concrete):
            warnings.warn(
                f"the fit is finite, but its loss in V's units exceeds {name}'s range and "
                f"reads inf; use dtype=float64 (or the square-root loss) to see it",
                UserWarning,
                stacklevel=4,
            )
        elif any(bool(jnp.any((x > 0) & (y == 0))) for x, y in concrete):
            warnings.warn(
                f"the loss in V's units is below {name}'s smallest positive number and reads "
                f"0, though it is not 0; use dtype=float64 (or the square-root loss) to see it",
                UserWarning,
                stacklevel=4,
            )
    return out


def warn_unscaled(scaled: np.ndarray, unscaled: np.ndarray, dtype) -> None:
    """``unscale_losses``' warnings, on the host from the fit's losses before and after
    unscaling: finite before and inf after, or positive before and 0 after."""
    name = np.dtype(dtype).name
    if not np.all(np.isfinite(scaled)):
        return
    if not np.all(np.isfinite(unscaled)):
        warnings.warn(
            f"the fit is finite, but its loss in V's units exceeds {name}'s range and "
            f"reads inf; use dtype=float64 (or the square-root loss) to see it",
            UserWarning,
            stacklevel=4,
        )
    elif np.any((scaled > 0) & (unscaled == 0)):
        warnings.warn(
            f"the loss in V's units is below {name}'s smallest positive number and reads "
            f"0, though it is not 0; use dtype=float64 (or the square-root loss) to see it",
            UserWarning,
            stacklevel=4,
        )


# ------------------------------------------------------------------------ the NMF module


def check_static_number(name: str, value, *, hi: float = math.inf, same_ok: bool = False):
    """A static (hashable) penalty setting: a Python/NumPy real number, or ``"same"``."""
    if same_ok and isinstance(value, str):
        if value != "same":
            raise ValueError(f'{name} must be a number >= 0 or "same", got {value!r}')
        return value
    if isinstance(value, (np.ndarray, jax.Array)):
        raise TypeError(
            f"{name} must be a Python number (it is a static field of the module), got an array"
        )
    return real_option(name, value, hi=hi)


def check_model_options(alpha_W, alpha_H, l1_ratio) -> None:
    """``NMF``'s static penalty settings, checked as ``fit`` checks them."""
    check_static_number("alpha_W", alpha_W)
    check_static_number("alpha_H", alpha_H, same_ok=True)
    check_static_number("l1_ratio", l1_ratio, hi=1.0)


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


def check_bool(name: str, value) -> bool:
    """A Python (or NumPy) bool; anything else is a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def model_data(W, H, V, mask, beta: float, traced: bool = False):
    """``NMF`` methods' data: ``(V', mask, W', H', k)``, checked as ``fit`` checks it.

    ``V`` must be ``(..., M, N)`` for the module's ``W (..., M, K)``, ``H (..., K, N)`` with
    batch axes that broadcast; it is computed in the factors' dtype, zero where masked.  When
    concrete data lies outside the safe range, ``V' = V / 4^k`` and ``W' = W / 2^k``,
    ``H' = H / 2^k`` (exact; ``k`` from ``module_exponent``); else ``k = 0`` and they are
    unchanged.  Under a user's ``jit`` ``k`` is 0 unless ``traced`` (then an int32 of the
    program: ``loss`` pays one max over ``V`` for a finite square-root loss).
    """
    from ._validate import check_data

    dt = np.dtype(W.dtype)
    V = as_data("V", V)
    if np.dtype(V.dtype) == np.float64 and dt == np.float32 and not _x64():
        warn_x64("V", V, "the NMF module (float32 factors)")
    V, mask = check_data(V, mask, dt)
    m, n = W.shape[-2], H.shape[-1]
    if tuple(V.shape[-2:]) != (m, n):
        raise ValueError(
            f"V (shape {shape_str(V.shape)}) does not fit the factors: W is "
            f"{shape_str(W.shape)} and H {shape_str(H.shape)}, so V must be (..., {m}, {n})"
        )
    try:
        jnp.broadcast_shapes(V.shape[:-2], W.shape[:-2], H.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the batch axes of V (shape {shape_str(V.shape)}) do not broadcast with the "
            f"factors' (W {shape_str(W.shape)}, H {shape_str(H.shape)})"
        ) from None
    if is_concrete(V) and is_concrete(W) and is_concrete(H):
        range_exponent(V, dt, beta)  # its refusal of a batch spread too wide for one scale
        k = int(module_exponent(V, W, H, dt, beta))
    elif traced:
        k = module_exponent(V, W, H, dt, beta)
    else:
        k = 0  # no per-step cost in a user's jit
    if isinstance(k, int) and k == 0:
        return V, mask, W, H, 0
    V = V * _pow2(-2 * k, dt)
    W, H = W * _pow2(-k, dt), H * _pow2(-k, dt)
    return V, mask, W, H, k


def module_exponent(V, W, H, dtype, beta: float):
    """``k`` for the ``NMF`` module's methods (``model_data``): from the larger of ``V``'s
    largest entry and ``max W max H K``, a bound on the largest entry of ``WH``.

    A module's factors need not be at ``V``'s scale (a model fitted on ``V`` asked for the loss
    of ``1e-30 V``); taking ``V`` alone could rescale ``WH`` out of range.  0 when both are in
    the safe range; else the smallest shift that brings that entry into it (not to 1, as
    ``range_exponent`` does for ``fit``: the smaller of the two scales then stays as far as it
    can above the ``EPSILON`` clamps of the beta < 2 losses).  Traced (int32) when any input
    is.
    """
    lo, hi = safe_exponent_range(dtype, beta, V.shape[-1] * V.shape[-2])
    if is_concrete(V) and is_concrete(W) and is_concrete(H):
        tops = [float(np.max(np.asarray(x, np.float64))) for x in (V, W, H)]
        logs = [math.log2(t) if t > 0 else -math.inf for t in tops]
        e = max(logs[0], logs[1] + logs[2] + math.log2(W.shape[-1]))
        if e == -math.inf or lo <= e <= hi:
            return 0
        return math.ceil((e - hi) / 2) if e > hi else math.floor((e - lo) / 2)

    def log2_top(x):
        t = jnp.max(x).astype(jnp.float32)
        return jnp.where(t > 0, jnp.log2(jnp.where(t > 0, t, 1.0)), -jnp.inf)

    e = jnp.maximum(log2_top(V), log2_top(W) + log2_top(H) + math.log2(W.shape[-1]))
    e = jnp.where(jnp.isfinite(e), e, 0.0)
    k = jnp.where(e > hi, jnp.ceil((e - hi) / 2), jnp.where(e < lo, jnp.floor((e - lo) / 2), 0))
    return k.astype(jnp.int32)
