"""ADMM for the beta-divergence, ``"admm"`` (Sun & Févotte 2014); every beta, masks.

D. L. Sun and C. Févotte, "Alternating direction method of multipliers for non-negative
matrix factorization with the beta-divergence", ICASSP 2014.  The problem is split as::

    min D_beta(V | X) + penalty(W+, H+)   subject to   X = W H,  W = W+,  H = H+,  W+, H+ >= 0

with the augmented Lagrangian (duals ``aX``, ``aW``, ``aH``, penalty ``rho``)::

    L = D_beta(V | X) + penalty(W+, H+) + <aX, X - W H> + rho/2 ||X - W H||^2
        + <aW, W - W+> + rho/2 ||W - W+||^2 + <aH, H - H+> + rho/2 ||H - H+||^2

minimised over each block in turn (their Algorithm 1 and reference code), one iteration::

    (1) H  <- (W^T W + I)^{-1} (W^T (X + aX/rho) + H+ - aH/rho)        dL/dH = 0
    (2) W  <- ((X + aX/rho) H^T + W+ - aW/rho) (H H^T + I)^{-1}        dL/dW = 0, new H
    (3) X  <- argmin_x d_beta(v | x) + aX x + rho/2 (x - y)^2,  y = (W H)_ij, per entry
    (4) H+ <- max(rho H + aH - l1_H, 0) / (rho + l2_H)     (= max(H + aH/rho, 0) unpenalised)
    (5) W+ <- max(rho W + aW - l1_W, 0) / (rho + l2_W)
    (6) aX <- aX + rho (X - W H);  aH <- aH + rho (H - H+);  aW <- aW + rho (W - W+)

The ``K x K`` systems of (1) and (2) are solved by a batched Cholesky factorisation in the
working dtype.  Step (3) sets ``x^(beta-2) (x - v) + aX + rho (x - y) = 0``:

* beta = 1 (KL): ``rho x^2 + (1 + aX - rho y) x - v = 0``, so with ``b = rho y - aX - 1``,
  ``x = (b + sqrt(b^2 + 4 rho v)) / (2 rho)``, computed as ``2 v / (sqrt(b^2 + 4 rho v) - b)``
  where ``b < 0`` (no cancellation).  ``v = 0`` gives ``max(b, 0) / rho >= 0``, the minimiser
  over ``x >= 0`` (KL's divergence is finite there).
* beta = 2: ``x = (v + rho y - aX) / (1 + rho)``.
* beta = 0 (IS): ``x^3 + A x^2 + x / rho - v / rho = 0`` with ``A = aX/rho - y``; its largest
  real root by Cardano's formula, as the reference code: ``B = 1/(3 rho) - A^2/9``, ``C =
  -A^3/27 + A/(6 rho) + v/(2 rho)``, ``D = B^3 + C^2``; ``D >= 0``: ``x = cbrt(C + sqrt D) +
  cbrt(C - sqrt D) - A/3``; ``D < 0``: ``x = 2 sqrt(-B) cos(acos(C / (-B)^1.5) / 3) - A/3``.
* other beta: ``NEWTON_STEPS`` Newton steps on ``h(x) = x^(beta-1) - v x^(beta-2) + aX + rho
  (x - y)`` from the previous ``X`` (at least ``EPSILON``), the slope ``h'`` raised to
  ``rho`` (where ``d_beta`` is not convex in ``x``, ``h'`` can be small or negative) and each
  step kept above half the current ``x`` (``x`` stays positive).  For ``1 <= beta <= 2``,
  ``h' >= rho`` and these are plain Newton steps.

Masked entries (``mask = 0``) have no data term: ``x = y - aX/rho``; ``aX`` starts at zero
there and stays zero, so ``X = W H`` on them.  ``X`` starts at ``W0 H0``, ``W+``, ``H+`` at
``W0``, ``H0``, the duals at zero, so the first iteration returns the starting pair (to
rounding).

The iterates are not monotone in the objective: the pair returned after every iteration is
the best ``(W+, H+)`` so far by the penalised objective (``D_beta(V | W+ H+)`` plus the
penalties, one more ``W+ H+`` product per iteration), so the loss the loop sees never rises,
and the stop rule is MU's on that pair.  The best pair can stay put for tens of iterations
while ADMM wanders (seen with IS): a ``tol`` that stops on one flat check then stops there;
``tol=0`` runs ``max_iter``.  ``rho`` (default 1, as the paper) is a value of the
compiled program (``split_settings``): a new ``rho`` compiles nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve

from .._constants import EPSILON
from .._contract import data_of, gram_h, gram_w, v_ht, w_h, wt_v
from .._loss import penalty_value
from ._base import AbstractDecreaseRule
from ._hals import _diag_add

RHO = 1.0
"""The default ``rho``, as the paper."""

NEWTON_STEPS = 3
"""Newton steps of the ``X`` update for a beta outside {0, 1, 2}, warm-started from the
previous ``X``."""


def _check_rho(rho) -> None:
    """Refuse a ``rho`` that is not a positive finite number (a traced one is not checked)."""
    try:
        value = np.asarray(rho)
    except jax.errors.TracerArrayConversionError:
        return
    if isinstance(rho, bool) or value.shape != () or value.dtype.kind not in "fiu":
        raise ValueError(f"rho (the ADMM penalty) must be a positive number, got {rho!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"rho (the ADMM penalty) must be a positive number, got {rho!r}")


def _spd_solve(G, R, right: bool):
    """``G^{-1} R`` (``R (B, K, N)``), or ``R G^{-1}`` when ``right`` (``R (B, M, K)``), for
    symmetric positive definite ``G (B, K, K)``, by Cholesky."""
    L = jnp.linalg.cholesky(G)
    if right:
        return jnp.swapaxes(cho_solve((L, True), jnp.swapaxes(R, -1, -2)), -1, -2)
    return cho_solve((L, True), R)


def _cardano(A, V, rho):
    """The largest real root of ``x^3 + A x^2 + x / rho - v / rho`` (module docstring)."""
    B = 1 / (3 * rho) - A * A / 9
    C = -(A**3) / 27 + A / (6 * rho) + V / (2 * rho)
    D = B**3 + C * C
    sqrt_d = jnp.sqrt(jnp.maximum(D, 0))
    one = jnp.cbrt(C + sqrt_d) + jnp.cbrt(C - sqrt_d)
    neg_b = jnp.where(D < 0, -B, 1)  # -B > 0 where D < 0
    cos = jnp.clip(C / neg_b**1.5, -1, 1)
    three = 2 * jnp.sqrt(neg_b) * jnp.cos(jnp.arccos(cos) / 3)
    return jnp.where(D >= 0, one, three) - A / 3


def _newton(beta: float, V, Y, aX, rho, X):
    """``NEWTON_STEPS`` safeguarded Newton steps on ``h(x) = 0`` (module docstring)."""
    x = jnp.maximum(X, jnp.asarray(EPSILON, X.dtype))
    for _ in range(NEWTON_STEPS):
        p = x ** (beta - 2)
        h = p * (x - V) + aX + rho * (x - Y)
        slope = (beta - 1) * p + (2 - beta) * V * p / x + rho
        x = jnp.maximum(x - h / jnp.maximum(slope, rho), x / 2)
    return x


def x_update(beta: float, V, Y, aX, rho, X, mask=None):
    """Step (3): ``argmin_x d_beta(v | x) + aX x + rho/2 (x - y)^2`` per entry, ``Y = W H``;
    ``X`` (the previous one) starts the Newton steps of a general beta."""
    if beta == 1:
        b = rho * Y - aX - 1
        root = jnp.sqrt(b * b + 4 * rho * V)
        new = jnp.where(b >= 0, (b + root) / (2 * rho), 2 * V / jnp.where(b >= 0, 1, root - b))
    elif beta == 2:
        new = (V + rho * Y - aX) / (1 + rho)
    elif beta == 0:
        new = _cardano(aX / rho - Y, V, rho)
    else:
        new = _newton(beta, V, Y, aX, rho, X)
    if mask is None:
        return new
    return jnp.where(mask != 0, new, Y - aX / rho)


def _prox(F, dual, rho, l1, l2):
    """Steps (4), (5): ``argmin_{F+ >= 0} l1 sum F+ + l2/2 ||F+||^2 - <dual, F+> + rho/2
    ||F - F+||^2``."""
    return jnp.maximum(rho * F + dual - l1, 0) / (rho + l2)


class ADMM(AbstractDecreaseRule):
    """Sun & Févotte's ADMM for every beta, with masks and penalties (module docstring);
    returns the best ``(W+, H+)`` so far, MU's stop rule on it.

    Attributes:
        rho: the augmented Lagrangian's penalty (default 1); a value of the compiled program.
    """

    name = "admm"
    zero_W_start = False
    # two groups of this program run concurrently from host threads hang on XLA:CPU (jaxlib
    # 0.10.2: a batch of 12 problems 120 x 100, rank 20, two workers, every iteration count
    # tried; one group, or 8 problems, run): its batches run as one group
    worker_threads = False
    frobenius_only = False
    rho: float | jax.Array = RHO

    def __check_init__(self):
        _check_rho(self.rho)

    def init_carry(self, data, W, H, pen):
        B = W.shape[:-2]
        X = w_h(W, H)
        zeros = jnp.zeros_like
        # W, H, X, W+, H+, aX, aW, aH, the best objective so far
        return (W, H, X, W, H, zeros(X), zeros(W), zeros(H), jnp.full(B, jnp.inf, W.dtype))

    def advance(self, carry, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        W_best, H_best = W, H  # the loop's pair; ADMM's own W, H are in the carry
        W, H, X, Wp, Hp, aX, aW, aH, best = carry
        V = data_of(data)
        rho = jnp.asarray(self.rho, W.dtype)
        Y = X + aX / rho
        if update_H:  # (1)
            H = _spd_solve(_diag_add(gram_w(W), 1), wt_v(W, Y) + Hp - aH / rho, False)
        if update_W:  # (2)
            W = _spd_solve(_diag_add(gram_h(H), 1), v_ht(Y, H) + Wp - aW / rho, True)
        WH = w_h(W, H)
        X = x_update(loss.beta, V, WH, aX, rho, X, mask)  # (3)
        if update_H:  # (4)
            Hp = _prox(H, aH, rho, pen.l1_H, pen.l2_H)
            aH = aH + rho * (H - Hp)
        if update_W:  # (5)
            Wp = _prox(W, aW, rho, pen.l1_W, pen.l2_W)
            aW = aW + rho * (W - Wp)
        aX = aX + rho * (X - WH)  # (6)
        e = loss.divergence(V, Wp, Hp, mask) + penalty_value(Wp, Hp, pen)
        better = e <= best
        take = better if active is None else better & active
        take = take.reshape(take.shape + (1, 1))
        # a stopped problem never resumes: its factors are kept exactly, its carry is dead
        carry = (W, H, X, Wp, Hp, aX, aW, aH, jnp.where(better, e, best))
        return jnp.where(take, Wp, W_best), jnp.where(take, Hp, H_best), None, carry
