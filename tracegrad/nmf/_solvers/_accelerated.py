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

import jax
import jax.numpy as jnp

from ._base import keep

ALPHA = 0.5
DELTA = 0.1


def inner_budget(m: int, n: int, k: int, alpha: float = ALPHA) -> int:
    """Most inner updates of the ``m x k`` factor: ``1 + floor(alpha rho)``."""
    rho = 1.0 + (m * n + n * k) / (m * k + m)
    return 1 + int(alpha * rho)


def repeat(update, F, active, budget: int, delta: float = DELTA):
    """Apply ``update(F, active) -> (F, stat)`` up to ``budget`` times, per-problem early stop.

    Returns ``(F, stat of the first update)``.
    """
    B = F.shape[:-2]
    F1, stat = update(F, active)
    first = jnp.sqrt(jnp.sum((F1 - F) ** 2, axis=(-2, -1)))
    inner = jnp.ones(B, bool) if active is None else active
    inner = inner & (first > 0)

    def cond(c):
        l, _, inner = c
        return (l < budget) & jnp.any(inner)

    def body(c):
        l, F, inner = c
        G, _ = update(F, inner)
        change = jnp.sqrt(jnp.sum((G - F) ** 2, axis=(-2, -1)))
        G = keep(inner, G, F)
        return l + 1, G, inner & (change > delta * first)

    _, F, _ = jax.lax.while_loop(cond, body, (jnp.ones((), jnp.int32), F1, inner))
    return F, stat
