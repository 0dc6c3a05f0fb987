"""The matrix products of NMF, written once for batched factors and a shared or batched ``V``.

Shapes: ``V (..., M, N)``, ``W (..., M, K)``, ``H (..., K, N)``.  ``V`` may carry fewer leading
axes than the factors (replicates share one unbatched ``V``): ``einsum`` then contracts it
without broadcasting, so ``V H^T`` over ``R`` replicates is one ``M x N`` by ``N x RK`` matmul
and ``V`` is never copied.

``V`` arrives either as an array or as a ``Data`` that also holds ``V^T``.  The products that
contract over ``M`` (``W^T V`` and KL's ``W^T (V / WH)``) produce a short, wide ``K x N`` result;
XLA's CPU matmul runs that orientation far slower than the tall ``N x K`` one, so with ``V^T``
at hand they are computed as ``(V^T W)^T`` and ``((V^T / (WH)^T) W)^T`` (the final transposes
are of small ``N x K`` arrays).  Which inputs get a ``V^T`` is decided in ``_layout`` from
measurements (``benchmarks/nmf_layouts.py``, ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from ._constants import EPSILON


class Data(eqx.Module):
    """``V`` and, optionally, a transposed copy ``Vt`` used for the products over ``M``."""

    V: jax.Array
    Vt: jax.Array | None = None


def transposed_copy(V: jax.Array) -> jax.Array:
    """``V^T`` materialised once (the barrier stops XLA folding the transpose back into each
    product that reads it, which would undo the layout)."""
    return lax.optimization_barrier(_mT(V))


def _split(V) -> tuple[jax.Array, jax.Array | None]:
    return (V.V, V.Vt) if isinstance(V, Data) else (V, None)


def _mT(x: jax.Array) -> jax.Array:
    return jnp.swapaxes(x, -1, -2)


def _tall_then_transpose(x: jax.Array) -> jax.Array:
    """``x^T`` for a tall product ``x``, kept tall: without the barrier XLA folds the transpose
    into the product and computes the short, wide ``K x N`` orientation after all."""
    return _mT(lax.optimization_barrier(x))


def _eps(x: jax.Array) -> jax.Array:
    return jnp.asarray(EPSILON, x.dtype)


def v_ht(V, H: jax.Array) -> jax.Array:
    """``V H^T``: ``(..., M, K)``."""
    V, _ = _split(V)
    return jnp.einsum("...mn,...kn->...mk", V, H)


def wt_v(W: jax.Array, V) -> jax.Array:
    """``W^T V``: ``(..., K, N)``."""
    V, Vt = _split(V)
    if Vt is not None:
        return _tall_then_transpose(jnp.einsum("...nm,...mk->...nk", Vt, W))
    return jnp.einsum("...mk,...mn->...kn", W, V)


def w_h(W: jax.Array, H: jax.Array) -> jax.Array:
    """``W H``: ``(..., M, N)``."""
    return jnp.einsum("...mk,...kn->...mn", W, H)


def ratio_ht(V, W: jax.Array, H: jax.Array) -> jax.Array:
    """``(V / max(WH, EPSILON)) H^T``: ``(..., M, K)`` (the KL ``grad^-`` of ``W``)."""
    V, _ = _split(V)
    WH = w_h(W, H)
    return jnp.einsum("...mn,...kn->...mk", V / jnp.maximum(WH, _eps(WH)), H)


def wt_ratio(V, W: jax.Array, H: jax.Array) -> jax.Array:
    """``W^T (V / max(WH, EPSILON))``: ``(..., K, N)`` (the KL ``grad^-`` of ``H``)."""
    V, Vt = _split(V)
    if Vt is not None:
        WHt = jnp.einsum("...kn,...mk->...nm", H, W)
        Rt = Vt / jnp.maximum(WHt, _eps(WHt))
        return _tall_then_transpose(jnp.einsum("...nm,...mk->...nk", Rt, W))
    WH = w_h(W, H)
    return jnp.einsum("...mk,...mn->...kn", W, V / jnp.maximum(WH, _eps(WH)))


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


def data_of(V) -> jax.Array:
    """The plain ``V`` array of an array or a ``Data``."""
    return _split(V)[0]
