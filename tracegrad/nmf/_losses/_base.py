"""The interface every NMF loss implements: its divergence and the split of its gradient."""

from __future__ import annotations

import abc

import equinox as eqx
import jax


class AbstractLoss(eqx.Module):
    """A beta-divergence ``D_beta(V | WH)`` summed over entries, as scikit-learn defines it.

    A loss supplies what the solvers need, each an abstract member here: ``beta``, ``name``,
    the divergence per problem (``divergence``), the negative and positive parts of its
    gradient for the multiplicative updates (``mu_parts``) and the memory it streams
    (``live_arrays``).  The base derives the MU exponent ``gamma`` and the floors that follow
    each MU step from ``beta``; a loss overrides none of them (equinox's abstract/final
    convention: a concrete loss is final and overrides nothing concrete).  A loss holds no
    arrays: it is hashable static configuration of the compiled loop (one compile per loss).
    """

    @property
    @abc.abstractmethod
    def beta(self) -> float:
        """The beta of the beta-divergence (2 Frobenius, 1 KL, 0 Itakura-Saito)."""

    @property
    @abc.abstractmethod
    def name(self) -> str | float:
        """Canonical name, reported as ``NMFResult.loss_type`` (a string for the named losses,
        the float beta otherwise)."""

    @abc.abstractmethod
    def divergence(self, V, W, H, mask=None) -> jax.Array:
        """``D(V | WH)`` per problem: shape ``W.shape[:-2]`` (observed entries only if masked)."""

    @abc.abstractmethod
    def mu_parts(self, factor: str, V, W, H, mask=None) -> tuple[jax.Array, jax.Array]:
        """``(grad^-, grad^+)`` of ``D`` w.r.t. ``factor`` (``"W"`` or ``"H"``), both >= 0."""

    @property
    def gamma(self) -> float:
        """MU exponent of Févotte & Idier 2011 (eq. 3.6 there, scikit-learn's ``gamma``).

        The update ``F * (grad^- / grad^+)^gamma`` is a majorisation-minimisation step:
        ``gamma = 1 / (2 - beta)`` for ``beta < 1``, ``1 / (beta - 1)`` for ``beta > 2``, 1
        between.
        """
        b = self.beta
        if b < 1:
            return 1.0 / (2.0 - b)
        if b > 2:
            return 1.0 / (b - 1.0)
        return 1.0

    @property
    def floor_W(self) -> bool:
        """scikit-learn zeroes ``W < eps(float64)`` after a MU step when ``beta < 1``."""
        return self.beta < 1

    @property
    def floor_H(self) -> bool:
        """... and ``H < eps(float64)`` when ``beta <= 1``."""
        return self.beta <= 1

    @property
    def needs_positive_data(self) -> bool:
        """``beta <= 0``: a zero in ``V`` makes the divergence and its updates diverge."""
        return self.beta <= 0

    @abc.abstractmethod
    def live_arrays(self, masked: bool) -> int:
        """How many ``M x N`` arrays one MU iteration streams (for ``_layout``'s chunking)."""
