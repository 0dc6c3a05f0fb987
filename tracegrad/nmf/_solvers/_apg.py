"""Extrapolated alternating NNLS by accelerated projected gradient, ``"apg"``; Frobenius.

Each factor's NNLS subproblem (``_extrapolated``: ``G``, ``R`` formed once per factor and
outer iteration) gets ``inner`` steps of Nesterov's method (Guan, Tao, Luo & Yuan 2012,
"NeNMF: an optimal gradient method for nonnegative matrix factorization", IEEE TSP 60(6),
Algorithm 1) on its diagonally scaled form: with ``D = diag(G)`` and ``W = Z D^{-1/2}``, the
subproblem ``min_{W >= 0} 1/2 <W G, W> - <R, W>`` is ``min_{Z >= 0} 1/2 <Z G~, Z> - <R~, Z>``
with ``G~ = D^{-1/2} G D^{-1/2}`` (unit diagonal) and ``R~ = R D^{-1/2}`` (a positive scaling
keeps the constraint ``Z >= 0``; it evens out the components' scales, which sets Nesterov's
rate).  Then, with the gradient ``Y G~ - R~``::

    Z_j = max(Y_j - (Y_j G~ - R~) / L, 0)
    Y_{j+1} = Z_j + (a_j - 1) / a_{j+1} (Z_j - Z_{j-1}),   a_{j+1} = (1 + sqrt(4 a_j^2 + 1)) / 2

with ``L >= lambda_max(G~)`` (``lipschitz``); ``H`` likewise with ``H = D^{-1/2} Z`` and
``G~ Y - R~``.  Each step is one ``K x K`` product and one elementwise pass, where a HALS sweep
is ``K`` sequential column updates: on a CPU a step costs a few percent of a sweep at
1024 x 1024, rank 32 (``benchmarks/RESULTS.md``, "NMF solvers").  Between outer iterations,
Ang & Gillis's extrapolation with restarts (``_extrapolated``), its ``beta`` growing by
``gamma = 1.05`` (its cap by ``gamma_bar = 1.02``): between their code's defaults for HALS
(1.01, 1.005) and for exact NNLS (1.1, 1.05), and fastest of the three here.
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ._base import keep
from ._extrapolated import MAX_INNER, AbstractExtrapolated

INNER = 20
"""Nesterov steps per subproblem: (a) and (b) of ``benchmarks/RESULTS.md`` reached
scikit-learn cd's 200-iteration loss soonest with 20 (of 10, 15, 20, 25, 30, 40), for three
seeds."""

POWER_STEPS = 4

NESTEROV_UNROLL = 1
"""``unroll`` of the ``fori_loop`` over Nesterov steps (measured: ``benchmarks/RESULTS.md``,
"NMF solver loops")."""


def _momentum(steps: int) -> np.ndarray:
    """Nesterov's weights ``(a_j - 1) / a_{j+1}``, ``a_0 = 1``, ``a_{j+1} = (1 + sqrt(4 a_j^2
    + 1)) / 2``, for ``j = 0 .. steps - 1``, in float64 on the host (cast to the working dtype
    once: the same bits in every dtype as a Python-float recurrence cast step by step)."""
    out = np.empty(steps, np.float64)
    a = 1.0
    for j in range(steps):
        a_next = (1 + math.sqrt(4 * a * a + 1)) / 2
        out[j] = (a - 1) / a_next
        a = a_next
    return out


MOMENTUM = _momentum(MAX_INNER)
"""``MOMENTUM[j]`` weighs step ``j``'s extrapolation ``Z_j - Z_{j-1}`` (float64); one entry
per step up to ``MAX_INNER``, the most ``inner`` accepts."""


def lipschitz(G: jax.Array) -> jax.Array:
    """An upper bound on ``lambda_max(G)`` for entrywise nonnegative symmetric ``G (..., K, K)``.

    Collatz-Wielandt: for any ``x > 0``, ``lambda_max <= max_i (G x)_i / x_i``; with ``x``
    from ``POWER_STEPS`` power steps on the ones vector (plus ``1e-3`` so that it stays
    positive) the bound tightens from the largest row sum towards ``lambda_max``.  A zero
    ``G`` gives 0.  ``G = W^T W + l2 I`` with ``W >= 0``, ``l2 >= 0`` is nonnegative.  The
    power steps are a ``fori_loop``, fully unrolled: four matrix-vector products.
    """

    def power(_, x):
        y = jnp.einsum("...ks,...s->...k", G, x)
        top = jnp.max(y, axis=-1, keepdims=True)
        return y / jnp.where(top > 0, top, 1)

    x = jnp.ones(G.shape[:-1], G.dtype)
    x = jax.lax.fori_loop(0, POWER_STEPS, power, x, unroll=True)
    x = x + jnp.asarray(1e-3, G.dtype)
    y = jnp.einsum("...ks,...s->...k", G, x)
    return jnp.max(y / x, axis=-1) * jnp.asarray(1 + 1e-4, G.dtype)


def nesterov(F: jax.Array, G: jax.Array, R: jax.Array, inner, right: bool) -> jax.Array:
    """``inner`` Nesterov projected-gradient steps on ``min 1/2 <F, F G> - <R, F>, F >= 0``.

    ``right``: ``F (B, M, K)`` and the gradient is ``F G - R``; else ``F (B, K, N)`` and
    ``G F - R``.  ``inner``: a Python int or a traced int32 scalar, at most ``MAX_INNER``
    (checked by the solver on the host; a traced value above it would reuse the table's last
    weight).  A ``fori_loop`` over the steps (one traced body); step ``j``'s momentum weight
    is ``MOMENTUM[j]`` in ``F``'s dtype, read by the loop counter.
    """
    L = lipschitz(G)[..., None, None]
    inv = jnp.where(L > 0, 1 / jnp.where(L > 0, L, 1), 0)
    zero = jnp.zeros((), F.dtype)
    spec = "...mk,...kl->...ml" if right else "...kl,...ln->...kn"
    momentum = jnp.asarray(np.asarray(MOMENTUM, F.dtype))  # rounded on the host, once

    def grad(Y):
        return (jnp.einsum(spec, Y, G) if right else jnp.einsum(spec, G, Y)) - R

    def step(j, c):
        F, Y = c
        Fn = jnp.maximum(Y - grad(Y) * inv, zero)
        return Fn, Fn + momentum[j] * (Fn - F)

    F, _ = jax.lax.fori_loop(0, inner, step, (F, F), unroll=NESTEROV_UNROLL)
    return F


class ExtrapolatedAPG(AbstractExtrapolated):
    """Alternating NNLS by ``inner`` Nesterov steps per factor, extrapolated (module
    docstring).  Frobenius, no mask.

    Attributes:
        inner: Nesterov steps per subproblem (static; ``INNER`` by default).
    """

    name = "apg"
    gamma: ClassVar[float] = 1.05
    gamma_bar: ClassVar[float] = 1.02
    inner: int | jax.Array = INNER
    inner_unit = "Nesterov steps"

    def subproblem(self, F, G, R, right, active):
        d = jnp.diagonal(G, axis1=-2, axis2=-1)
        s = jnp.sqrt(jnp.where(d > 0, d, 1))  # D^{1/2}; a zero component is left unscaled
        G = G / (s[..., :, None] * s[..., None, :])
        s = s[..., None, :] if right else s[..., :, None]  # over W's columns / H's rows
        Z = nesterov(F * s, G, R / s, self.inner, right)
        return keep(active, Z / s, F)
