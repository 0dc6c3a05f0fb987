"""Multiplicative updates: each factor times ``grad^- / grad^+`` (Lee & Seung; scikit-learn MU).

For a factor ``F`` (``W`` or ``H``) with the split gradient of ``_gradients`` and penalty weights
``l1``, ``l2`` (``_regularization``)::

    F <- F * grad^- / (grad^+ + l1 + l2 * F)

which is ``F - (F / (grad^+ + l1 + l2 F)) * grad``: a gradient step on the penalised objective
with a per-entry step size that keeps ``F`` non-negative, and the minimiser of a majorising
auxiliary function, so the objective does not increase (Lee & Seung 2001; for L1 the extra
term is linear and the argument is unchanged).

scikit-learn's numerical details are reproduced exactly (``_multiplicative_update_w/_h``):
``W`` is updated before ``H`` (``H`` uses the new ``W``); a zero denominator becomes
``EPSILON``; KL divides by ``max(WH, EPSILON)``; in the KL ``H`` update a zero column sum of
``W`` is replaced by 1 before the penalty is added, and ``H`` entries below float64's epsilon are
set to 0 afterwards.  The order ``F * (grad^- / den)`` matches scikit-learn's rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._constants import EPSILON, H_FLOOR
from ._gradients import gradient_parts
from ._regularization import Penalty


def _ratio_step(F, neg, pos, l1, l2, active):
    den = pos + l1 + l2 * F
    den = jnp.where(den == 0, jnp.asarray(EPSILON, den.dtype), den)
    ratio = neg / den
    if active is not None:
        # frozen problems multiply by exactly 1: fused into this pass, no extra select pass
        ratio = jnp.where(active[..., None, None], ratio, jnp.ones((), ratio.dtype))
    return F * ratio


def update_W(V, W, H, loss: str, pen: Penalty, mask=None, active=None) -> jax.Array:
    """One MU step for ``W``: ``W * grad^-_W / (grad^+_W + l1_W + l2_W W)``."""
    neg, pos = gradient_parts(loss, "W", V, W, H, mask)
    return _ratio_step(W, neg, pos, pen.l1_W, pen.l2_W, active)


def update_H(V, W, H, loss: str, pen: Penalty, mask=None, active=None) -> jax.Array:
    """One MU step for ``H``: ``H * grad^-_H / (grad^+_H + l1_H + l2_H H)``, KL floor applied."""
    neg, pos = gradient_parts(loss, "H", V, W, H, mask)
    if loss == "kl":
        pos = jnp.where(pos == 0, jnp.ones((), pos.dtype), pos)
    H = _ratio_step(H, neg, pos, pen.l1_H, pen.l2_H, active)
    if loss == "kl":
        # idempotent, so frozen problems (already floored) are unchanged
        H = jnp.where(H < H_FLOOR, jnp.zeros((), H.dtype), H)
    return H


def mu_step(
    V, W, H, loss: str, pen: Penalty, mask=None, active=None
) -> tuple[jax.Array, jax.Array]:
    """One full MU iteration: ``W`` first, then ``H`` from the new ``W``.

    Args:
        V: data ``(..., M, N)`` (zero where ``mask`` is zero); may have fewer leading axes than
            the factors.
        W: ``(..., M, K)``.  H: ``(..., K, N)``.
        loss: ``"frobenius"`` or ``"kl"``.
        pen: penalty weights.
        mask: optional 0/1 array shaped like ``V``.
        active: optional bool ``W.shape[:-2]``; problems where it is False keep their
            factors exactly (the batched loop's converged problems).

    Returns:
        ``(W, H)`` after one iteration.
    """
    W = update_W(V, W, H, loss, pen, mask, active)
    H = update_H(V, W, H, loss, pen, mask, active)
    return W, H
