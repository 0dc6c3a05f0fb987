"""One multiplicative-update iteration for any loss (the ``NMF`` module's ``step``).

The rules are the MU solver's (``_solvers._mu``); this module keeps the functional entry points
for callers that step factors themselves: ``mu_step``, and ``gradient_parts``, the split
gradient a step divides (each loss object's ``mu_parts``, built on ``_gradients``).
"""

from __future__ import annotations

import jax

from ._losses import AbstractLoss, resolve_loss
from ._regularization import Penalty
from ._solvers._mu import mu_H, mu_W


def mu_step(
    V, W, H, loss: str | float | AbstractLoss, pen: Penalty, mask=None, active=None
) -> tuple[jax.Array, jax.Array]:
    """One full MU iteration: ``W`` first, then ``H`` from the new ``W``.

    Args:
        V: data ``(..., M, N)`` (zero where ``mask`` is zero); may have fewer leading axes than
            the factors.
        W: ``(..., M, K)``.  H: ``(..., K, N)``.
        loss: a name of ``LOSSES``, a float beta or a loss object.
        pen: penalty weights.
        mask: optional 0/1 array shaped like ``V``.
        active: optional bool ``W.shape[:-2]``; problems where it is False keep their
            factors exactly (the batched loop's converged problems).

    Returns:
        ``(W, H)`` after one iteration.
    """
    loss = resolve_loss(loss)
    W = mu_W(V, W, H, loss, pen, mask, active)
    H = mu_H(V, W, H, loss, pen, mask, active)
    return W, H


def gradient_parts(loss, factor: str, V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
    """``(grad^-, grad^+)`` for ``loss`` (a name of ``LOSSES``, a float beta or a loss object)
    and ``factor`` (``"W"``, ``"H"``): what the MU step divides (the loss object's
    ``mu_parts``; KL's ``H`` part has scikit-learn's zero column sums of ``W`` replaced by 1)."""
    return resolve_loss(loss).mu_parts(factor, V, W, H, mask)
