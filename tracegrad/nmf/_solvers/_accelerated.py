"""Inner-repeat budget of the accelerated solvers (Gillis & Glineur 2012).

Gillis & Glineur, "Accelerated multiplicative updates and hierarchical ALS algorithms for
nonnegative matrix factorization" (Neural Computation 24(4), 2012), Section 3: once the
products ``V H^T`` and ``H H^T`` are formed, further updates of ``W`` cost only ``W (H H^T)``.
With ``rho_W`` the cost of (products + one inner update) over one inner update,
``rho_W = 1 + (M N + N K) / (M K + M)`` (their eq. 3.2 for ``W``; ``rho_H`` swaps ``M`` and
``N``), ``W`` is updated at most ``1 + floor(alpha rho_W)`` times (``alpha = 0.5``), stopping
early once an inner change ``||W_l - W_{l-1}||_F`` is at most ``delta`` (0.1) times the first,
``||W_1 - W_0||_F``.  Per problem in a batch: each problem stops its inner loop on its own.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._base import keep

ALPHA = 0.5
DELTA = 0.1


def inner_budget(m: int, n: int, k: int, alpha: float = ALPHA) -> int:
    """Most inner updates of the ``m x k`` factor: ``1 + floor(alpha rho)``."""
    rho = 1.0 + (m * n + n * k) / (m * k + m)
    return 1 + int(alpha * rho)


def repeat(update, F, active, budget, delta: float = DELTA) -> tuple[jax.Array, Any]:
    """Apply ``update(F, active) -> (F, stat)`` up to ``budget`` times, per-problem early stop.

    Returns ``(F, stat of the first update)``.  ``budget``: a Python int or a traced int32
    scalar (>= 1).

    One ``while_loop`` whose body (``update``) is traced once.  Its first trip is the first
    update of every ``active`` problem and records ``first = ||F_1 - F_0||_F`` and the stat;
    a problem then stays in the loop while ``first > 0`` and, from the second trip, while its
    change exceeds ``delta * first``.  ``keep`` leaves a problem out of the loop exactly
    unchanged (also on the first trip, where ``update`` itself already kept the frozen ones,
    so the select changes no bit).  The stat of later trips is dropped.
    """
    B = F.shape[:-2]
    live = jnp.ones(B, bool) if active is None else active

    def cond(c):
        l, _, inner, _, _ = c
        return (l == 0) | ((l < budget) & jnp.any(inner))

    def body(c):
        l, F, inner, first, stat = c
        G, s = update(F, inner)
        change = jnp.sqrt(jnp.sum((G - F) ** 2, axis=(-2, -1)))
        G = keep(inner, G, F)
        start = l == 0
        first = jnp.where(start, change, first)
        stat = s if stat is None else jnp.where(start, s, stat)
        # the first trip keeps a problem that moved at all (``change > 0``), later ones a
        # problem whose change exceeds ``delta * first``, as the two halves of the paper's rule
        go = change > jnp.where(start, jnp.zeros((), change.dtype), delta * first)
        return l + 1, G, inner & go, first, stat

    stat0 = _stat_shape(update, F, live)
    zero = jnp.zeros(B, F.dtype)
    _, F, _, _, stat = jax.lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), F, live, zero, stat0)
    )
    return F, stat


def _stat_shape(update, F, active):
    """Zeros shaped like ``update``'s stat (None if it has none), without tracing it twice
    into the program: ``eval_shape`` traces abstractly and adds nothing to it."""
    stat = jax.eval_shape(update, F, active)[1]
    return None if stat is None else jnp.zeros(stat.shape, stat.dtype)
