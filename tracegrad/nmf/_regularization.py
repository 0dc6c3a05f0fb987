"""L1/L2 penalty weights scaled by the data shape, as scikit-learn >= 1.2 scales them."""

from __future__ import annotations

import equinox as eqx
import jax


class Penalty(eqx.Module):
    """Per-factor penalty weights entering the MU denominators.

    The penalised objective is (scikit-learn >= 1.2, ``NMF`` docstring)::

        D(V, WH) + l1_W |W|_1 + l2_W / 2 |W|_F^2 + l1_H |H|_1 + l2_H / 2 |H|_F^2

    and the MU rules add ``l1 + l2 * factor`` to the positive part of the gradient.  The
    weights are pytree leaves (Python floats or scalar arrays), so changing them does not
    recompile a jitted fit.
    """

    l1_W: float | jax.Array = 0.0
    l1_H: float | jax.Array = 0.0
    l2_W: float | jax.Array = 0.0
    l2_H: float | jax.Array = 0.0


def penalty(
    alpha_W: float, alpha_H: float | str, l1_ratio: float, n_samples: int, n_features: int
) -> Penalty:
    """Scale ``alpha_W``, ``alpha_H``, ``l1_ratio`` into the four penalty weights.

    scikit-learn's ``_BaseNMF._compute_regularization``: ``alpha_H = "same"`` reuses
    ``alpha_W``; the W terms scale with ``n_features`` (N) and the H terms with ``n_samples``
    (M), so that the penalty keeps its weight relative to a loss summed over ``M x N`` entries::

        l1_W = N * alpha_W * l1_ratio       l2_W = N * alpha_W * (1 - l1_ratio)
        l1_H = M * alpha_H * l1_ratio       l2_H = M * alpha_H * (1 - l1_ratio)

    With a mask the scaling still uses the full data shape ``M x N`` (not the observed count),
    so a mask of all ones reproduces the unmasked fit exactly.

    Args:
        alpha_W: penalty strength on ``W`` (>= 0).
        alpha_H: penalty strength on ``H`` (>= 0), or ``"same"``.
        l1_ratio: share of L1 in the penalty, in ``[0, 1]``.
        n_samples: ``M``, rows of ``V``.
        n_features: ``N``, columns of ``V``.
    """
    a_W = float(alpha_W)
    a_H = a_W if isinstance(alpha_H, str) and alpha_H == "same" else float(alpha_H)
    r = float(l1_ratio)
    return Penalty(
        l1_W=n_features * a_W * r,
        l1_H=n_samples * a_H * r,
        l2_W=n_features * a_W * (1.0 - r),
        l2_H=n_samples * a_H * (1.0 - r),
    )
