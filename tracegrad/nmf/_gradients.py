"""The NMF gradients split into their negative and positive parts, and their registry source.

Multiplicative updates rescale each factor by ``grad^- / grad^+`` where ``grad = grad^+ - grad^-``
is the closed-form gradient of the divergence and both parts are entrywise non-negative (Lee &
Seung 2001).  The closed forms come from the registry:

Frobenius, ``D = 1/2 ||V - WH||_F^2`` (half of trace notes eq. 22).  Eq. 24 (``traa.eq24_W``,
``traa.eq24_H``) gives ``dD/dW = W H H^T - V H^T`` and ``dD/dH = W^T W H - W^T V``::

    W:  grad^- = V H^T        grad^+ = W (H H^T)
    H:  grad^- = W^T V        grad^+ = (W^T W) H

Kullback-Leibler, ``D = sum V log(V / WH) - V + WH``.  Its ``- tr[V^T log(WH)]`` part is eq. 25;
eq. 27 (``traa.eq27``) with ``A = I, X = W, B = H`` gives ``d tr[V^T log(WH)]/dW = (V / WH) H^T``
and with ``A = W, X = H, B = I`` gives ``W^T (V / WH)``.  Its ``sum WH = tr(J W H)`` part is
eq. 9 (``traa.eq9``, ``J`` the all-ones ``N x M`` matrix): ``1 H^T`` and ``W^T 1``::

    W:  grad^- = (V / WH) H^T     grad^+ = 1_{MxN} H^T   (row sums of H, in every row)
    H:  grad^- = W^T (V / WH)     grad^+ = W^T 1_{MxN}   (column sums of W, in every column)

Masked (weighted) NMF, ``D_M = sum M * d(V, WH)`` for a 0/1 mask ``M`` and ``V`` zero where
``M`` is: differentiating entry by entry multiplies every ``V``- and ``WH``-term by ``M``::

    Frobenius  W:  grad^- = V H^T   grad^+ = (M * WH) H^T      H:  W^T V,  W^T (M * WH)
    KL         W:  grad^- = (V / WH) H^T   grad^+ = M H^T      H:  W^T (V / WH),  W^T M

With ``M`` all ones these are the unmasked parts (``(WH) H^T = W (H H^T)``), computed in the
cheaper Gram order.  In the KL parts ``WH`` is raised to ``EPSILON`` before dividing, as
scikit-learn does; where no entry of ``WH`` is that small, ``grad^+ - grad^-`` is exactly the
registry gradient (``tests/test_nmf_registry.py`` checks it against ``registry_gradient``).

``V`` may be a ``_contract.Data`` carrying ``V^T`` for faster products (same values).  The
split functions are what the MU rules in ``_updates`` call; the registry's own functions are
not called in the loop because they materialise identity matrices (eq. 27 with ``A = I``) and
skip the clamp.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._contract import g_h, gram_h, gram_w, ratio_ht, v_ht, w_g, w_h, wt_ratio, wt_v


def frobenius_parts_W(V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` of ``1/2 ||V - WH||^2`` w.r.t. ``W`` (eq. 24): ``V H^T``, ``W H H^T``.

    Masked: ``grad^+ = (M * WH) H^T``.  Both ``(..., M, K)``.
    """
    neg = v_ht(V, H)
    pos = w_g(W, gram_h(H)) if mask is None else v_ht(mask * w_h(W, H), H)
    return neg, pos


def frobenius_parts_H(V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` w.r.t. ``H`` (eq. 24 for H): ``W^T V``, ``(W^T W) H``.

    Masked: ``grad^+ = W^T (M * WH)``.  Both ``(..., K, N)``.
    """
    neg = wt_v(W, V)
    pos = g_h(gram_w(W), H) if mask is None else wt_v(W, mask * w_h(W, H))
    return neg, pos


def kl_parts_W(V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` of the KL divergence w.r.t. ``W`` (eq. 27 and eq. 9).

    ``grad^- = (V / WH) H^T`` (``(..., M, K)``); ``grad^+ = 1 H^T``, returned unexpanded as the
    row sums of ``H`` with shape ``(..., 1, K)``; masked, ``M H^T`` ``(..., M, K)``.
    """
    neg = ratio_ht(V, W, H)
    pos = jnp.sum(H, axis=-1)[..., None, :] if mask is None else v_ht(mask, H)
    return neg, pos


def kl_parts_H(V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` of the KL divergence w.r.t. ``H`` (eq. 27 and eq. 9).

    ``grad^- = W^T (V / WH)`` (``(..., K, N)``); ``grad^+ = W^T 1``, returned unexpanded as the
    column sums of ``W`` with shape ``(..., K, 1)``; masked, ``W^T M`` ``(..., K, N)``.
    """
    neg = wt_ratio(V, W, H)
    pos = jnp.sum(W, axis=-2)[..., :, None] if mask is None else wt_v(W, mask)
    return neg, pos


def registry_gradient(loss: str, V, W, H) -> tuple[jax.Array, jax.Array]:
    """``(dD/dW, dD/dH)`` of the unmasked divergence, straight from the registry's closed forms.

    Frobenius: half of ``traa.eq24_W`` / ``traa.eq24_H`` (``D`` is half of eq. 22).  KL:
    ``traa.eq9`` for ``sum WH = tr(J W H)`` minus ``traa.eq27`` for ``tr[V^T log(WH)]``, with
    ``J`` the ``N x M`` ones matrix and identities in the unused slots.  Unbatched 2-D inputs; a
    reference for tests and for readers, not the hot loop (it forms ``M x M`` and ``N x N``
    identities).
    """
    from .._registry.registry import identity

    if loss == "frobenius":
        dW = 0.5 * identity("traa.eq24_W").gradient(V, W, H)
        dH = 0.5 * identity("traa.eq24_H").gradient(V, W, H)
        return dW, dH
    m, n = V.shape
    dtype = V.dtype
    J = jnp.ones((n, m), dtype)
    eq9 = identity("traa.eq9").gradient
    eq27 = identity("traa.eq27").gradient
    dW = eq9(J, W, H) - eq27(V, jnp.eye(m, dtype=dtype), W, H)
    dH = eq9(J @ W, H, jnp.eye(n, dtype=dtype)) - eq27(V, W, H, jnp.eye(n, dtype=dtype))
    return dW, dH
