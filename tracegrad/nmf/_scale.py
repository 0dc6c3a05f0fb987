"""Exact rescaling of data beyond the dtype's safe float range: one rule for every entry point.

``fit``, ``init_factors`` and the ``NMF`` module's methods compute on a power-of-four
rescaling of data whose magnitude would overflow or underflow the computation dtype, and give
their results in ``V``'s units; this module holds that rule (the exponent, on the host and in
the program, the rescaling and its undoing) so that each entry point applies the same one.

The NMF problem is scale-equivariant: for ``c > 0``, minimising the penalised beta-divergence
of ``V`` from ``(W, H)`` is minimising that of ``V / c`` from ``(W / sqrt(c), H / sqrt(c))``
with the penalties rescaled, because ``D_beta(cX | cY) = c^beta D_beta(X | Y)`` (the scale
property of the beta-divergence, Fevotte & Idier 2011, "Algorithms for nonnegative matrix
factorization with the beta-divergence")::

    D(V | WH) + l1 |W|_1 + l2/2 |W|^2 = c^beta [ D(V' | W'H') + l1 c^(1/2 - beta) |W'|_1
                                                 + l2/2 c^(1 - beta) |W'|^2 ]

(the same for ``H``).  When the largest observed entry of ``V`` lies outside the range where
the losses and the update products are representable (``safe_exponent_range``), ``fit``
computes on ``V' = V / 4^k`` with ``W0, H0`` divided by ``2^k`` and the penalties rescaled as
above, then multiplies ``W, H`` by ``2^k`` and the square-root losses by ``2^(k beta)``.  The
scale is a power of four, so every rescaling of data and factors is exact (no rounding), and
data inside the range is never rescaled: the iterates of ordinary data, and scikit-learn
parity, are untouched.  The host computes ``k`` from the checked data
(``range_exponent_host``); under a user's ``jit`` it is computed in the program
(``traced_range_exponent``), and in-range data multiplies by exactly 1 (``k = 0``).
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete
from ._constants import EPSILON
from ._regularization import Penalty


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


def range_exponent_host(v_max: np.ndarray, dtype, beta: float, size: int) -> int:
    """``k`` with ``V / 4^k`` in the safe range (0 when it is), on the host, from the
    per-problem largest observed entries ``v_max`` (``_checks.check_data_host``'s).  ``k``
    brings the largest entry near 1.

    Raises:
        ValueError: the problems of a batch differ so much in scale that no single scale puts
            all of them in range.
    """
    per_problem = np.asarray(v_max, np.float64).reshape(-1)
    top = float(per_problem.max()) if per_problem.size else 0.0
    if top == 0.0:
        return 0
    lo, hi = safe_exponent_range(dtype, beta, size)
    e = math.log2(top)
    if lo <= e <= hi:
        return 0
    k = int(round(e / 2))  # V / 4^k has its largest entry within a factor 2 of 1
    k = max(-max_exponent(dtype), min(k, max_exponent(dtype)))  # 4^-k stays a normal number
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


def max_exponent(dtype) -> int:
    """The largest ``|k|`` for which ``4^-k`` and ``4^k`` are normal numbers of ``dtype`` (63
    for float32): XLA flushes subnormals to zero, so a larger ``k`` would scale ``V`` to 0.
    Near the top of float32's range ``k = 63`` leaves the largest entry within a factor 4 of
    1, still well inside the safe range."""
    fi = np.finfo(dtype)
    return min(-int(fi.minexp), int(fi.maxexp) - 1) // 2


def traced_range_exponent(V, dtype, beta: float) -> jax.Array:
    """``range_exponent_host``'s ``k`` computed inside the program from a traced ``V``
    (int32; 0 for data in range), without the refusal of a batch spread too wide."""
    lo, hi = safe_exponent_range(dtype, beta, V.shape[-1] * V.shape[-2])
    top = jnp.max(V)
    e = jnp.log2(jnp.where(top > 0, top, jnp.ones((), top.dtype)))
    need = (top > 0) & ((e < lo) | (e > hi))
    lim = max_exponent(dtype)  # 4^-k stays a normal number
    return jnp.where(need, jnp.clip(jnp.round(e / 2), -lim, lim), 0).astype(jnp.int32)


def module_exponent(V, W, H, dtype, beta: float):
    """``k`` for the ``NMF`` module's methods (``_model._model_data``): from the larger of
    ``V``'s largest entry and ``max W max H K``, a bound on the largest entry of ``WH``.

    A module's factors need not be at ``V``'s scale (a model fitted on ``V`` asked for the loss
    of ``1e-30 V``); taking ``V`` alone could rescale ``WH`` out of range.  0 when both are in
    the safe range; else the smallest shift that brings that entry into it (not to 1, as
    ``range_exponent_host`` does for ``fit``: the smaller of the two scales then stays as far
    as it can above the ``EPSILON`` clamps of the beta < 2 losses).  Traced (int32) when any
    input is.
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


# ---------------------------------------------------------------- rescaling, unscaling


def pow2(e, dtype):
    """``2^e`` for a traced int32 exponent, exact (``ldexp``)."""
    return jnp.ldexp(jnp.ones((), dtype), e.astype(jnp.int32))


def pow2_times(e_per_k: float, k, dtype):
    """``2^(e_per_k k)`` for a traced int ``k`` (exact when ``e_per_k`` is an integer)."""
    if float(e_per_k).is_integer():
        return pow2(k * int(e_per_k), dtype)
    return jnp.exp2((k * e_per_k).astype(dtype))


def rescale(k, beta: float, dtype, V, W0, H0, pen: Penalty):
    """``V / 4^k``, ``W0 / 2^k``, ``H0 / 2^k`` (None stays None) and the penalties for them
    (module docstring); every factor is exactly 1 when ``k == 0``."""
    down = pow2(-k, dtype)
    V = V * pow2(-2 * k, dtype)  # 4^-k is a normal number: k is clamped (range_exponent_host)
    W0 = None if W0 is None else W0 * down
    H0 = None if H0 is None else H0 * down
    f1 = pow2_times(1.0 - 2.0 * beta, k, dtype)  # c^(1/2 - beta)
    f2 = pow2_times(2.0 * (1.0 - beta), k, dtype)  # c^(1 - beta)

    def scaled(w, f):
        w = jnp.asarray(w, dtype)
        return jnp.where(w == 0, w, w * f)  # a zero weight stays zero (never 0 * inf)

    pen = Penalty(
        l1_W=scaled(pen.l1_W, f1),
        l1_H=scaled(pen.l1_H, f1),
        l2_W=scaled(pen.l2_W, f2),
        l2_H=scaled(pen.l2_H, f2),
    )
    return V, W0, H0, pen


def host_scaled_penalty(pen: Penalty, k: int, beta: float) -> Penalty:
    """``rescale``'s penalty weights for data divided by ``4^k``, for the host's ``k``: in
    float64 Python arithmetic on the host (a zero weight stays exactly zero); weights traced
    by a user's ``jit`` (concrete data, traced settings) are scaled in its program."""
    # Two implementations of one rule, because their callers differ: ``fit``'s program scales
    # weights that are traced values of it, by a ``k`` that may be traced (``rescale``); the
    # ``NMF`` module's ``step`` scales concrete weights by the host's ``k`` before the program
    # casts them to the factors' dtype, so they round once, from float64 (scaling them in
    # the program, in the factors' dtype, would round differently and change its results).
    l1 = 2.0 ** (k * (1.0 - 2.0 * beta))  # c^(1/2 - beta)
    l2 = 2.0 ** (2.0 * k * (1.0 - beta))  # c^(1 - beta)

    def scaled(w, f):
        if not is_concrete(w):
            return jnp.where(w == 0, w, w * jnp.asarray(f, w.dtype))
        return float(w) * f if float(w) != 0.0 else float(w)

    return Penalty(
        l1_W=scaled(pen.l1_W, l1),
        l1_H=scaled(pen.l1_H, l1),
        l2_W=scaled(pen.l2_W, l2),
        l2_H=scaled(pen.l2_H, l2),
    )


def unscale_losses(k, beta: float, dtype, *losses):
    """Square-root losses of the rescaled problem in ``V``'s units: times ``2^(k beta)``,
    applied in two halves (neither over- nor underflows where the product does not)."""
    half = k // 2
    f1, f2 = pow2_times(beta, half, dtype), pow2_times(beta, k - half, dtype)
    return tuple(x * f1 * f2 for x in losses)


def warn_unscaled(scaled: np.ndarray, unscaled: np.ndarray, dtype) -> None:
    """Warn, on the host, when the losses of a rescaled fit in ``V``'s units do not show it:
    from the losses before (``scaled``) and after ``unscale_losses``, finite before and inf
    after, or positive before and 0 after."""
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
