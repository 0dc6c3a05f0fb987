"""The matrix products of NMF, written once for batched factors and a shared or batched ``V``.

Shapes: ``V (..., M, N)``, ``W (..., M, K)``, ``H (..., K, N)``.  ``V`` may carry fewer leading
axes than the factors (replicates share one unbatched ``V``): ``einsum`` then contracts it
without broadcasting, so ``V @ H^T`` over ``R`` replicates is one ``M x N`` by ``N x RK`` matmul
and ``V`` is never copied.

The orientation of each product was chosen by measurement (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def v_ht(V: jax.Array, H: jax.Array) -> jax.Array:
    """``V H^T``: ``(..., M, K)``."""
    return jnp.einsum("...mn,...kn->...mk", V, H)


def wt_v(W: jax.Array, V: jax.Array) -> jax.Array:
    """``W^T V``: ``(..., K, N)``."""
    return jnp.einsum("...mk,...mn->...kn", W, V)


def w_h(W: jax.Array, H: jax.Array) -> jax.Array:
    """``W H``: ``(..., M, N)``."""
    return jnp.einsum("...mk,...kn->...mn", W, H)


def gram_h(H: jax.Array) -> jax.Array:
    """``H H^T``: ``(..., K, K)``."""
    return jnp.einsum("...kn,...ln->...kl", H, H)


def gram_w(W: jax.Array) -> jax.Array:
    """``W^T W``: ``(..., K, K)``."""
    return jnp.einsum("...mk,...ml->...kl", W, W)


def w_g(W: jax.Array, G: jax.Array) -> jax.Array:
    """``W G`` for a ``K x K`` ``G``: ``(..., M, K)``."""
    return jnp.einsum("...mk,...kl->...ml", W, G)


def g_h(G: jax.Array, H: jax.Array) -> jax.Array:
    """``G H`` for a ``K x K`` ``G``: ``(..., K, N)``."""
    return jnp.einsum("...kl,...ln->...kn", G, H)
