"""The interface every NMF solver implements: one iteration, and its own stopping rule.

``_fit.fit_loop`` is generic: it calls ``step`` once per iteration for all problems, then
``stop_after_iteration`` (per-iteration rules, e.g. coordinate descent's violation), and every
``CHECK_EVERY`` iterations computes the square-root loss for the history and calls
``stop_after_check`` (MU's relative-decrease rule).  A problem that stopped is frozen: ``step``
leaves its factors exactly unchanged where ``active`` is False.
"""

from __future__ import annotations

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .._losses import AbstractLoss
from .._regularization import Penalty


def keep(active, new, old):
    """``new`` where the problem is active, ``old`` (exactly) where it is frozen."""
    if active is None:
        return new
    return jnp.where(active.reshape(active.shape + (1,) * (new.ndim - active.ndim)), new, old)


class AbstractSolver(eqx.Module):
    """An NMF solver: static configuration of the compiled loop (hashable, holds no arrays).

    Attributes (class level):
        name: the name in ``SOLVERS``.
        zero_W_start: ``update_H=False`` without ``W0`` starts from zeros (coordinate
            descent can leave zero; multiplicative updates cannot, so they start from
            ``sqrt(mean V / K)``, as scikit-learn).
        frobenius_only: the solver minimises the (penalised) Frobenius loss, unmasked;
            ``check`` refuses anything else.
    """

    name: ClassVar[str]
    zero_W_start: ClassVar[bool] = False
    stops_each_iteration: ClassVar[bool] = False
    frobenius_only: ClassVar[bool] = False

    def check(self, loss: AbstractLoss, masked: bool) -> None:
        """Raise ValueError if this solver cannot minimise ``loss`` (with a mask)."""
        if not self.frobenius_only:
            return
        if loss.beta != 2:
            raise ValueError(
                f"solver={self.name!r} minimises the Frobenius loss only, got "
                f"loss={loss.name!r}; use solver='mu' for other beta-divergences"
            )
        if masked:
            raise ValueError(
                f"solver={self.name!r} does not support mask= (it has no weighted form); "
                f"use solver='mu' for masked NMF"
            )

    def step(
        self,
        data,
        W: jax.Array,
        H: jax.Array,
        loss: AbstractLoss,
        pen: Penalty,
        mask,
        active,
        update_W: bool,
        update_H: bool,
        dims: tuple[int, int, int],
    ) -> tuple[jax.Array, jax.Array, Any]:
        """One iteration for all problems: ``(W, H, stat)``; ``stat`` feeds the stop rule.

        ``data``: ``V`` or a ``_contract.Data``; ``W (B, M, K)``, ``H (B, K, N)``; ``active``:
        ``(B,)`` bool or None (all active); frozen problems keep their factors exactly.
        ``dims``: the problem's real ``(M, N, K)`` (the sharded fit pads ``M`` with zero rows;
        cost-based choices must not see the padding).

        Every solver implements this or, when it keeps state between iterations,
        ``init_carry`` and ``advance`` instead.
        """
        raise NotImplementedError(f"solver {self.name!r} runs through advance (it has a carry)")

    def init_carry(self, data, W: jax.Array, H: jax.Array, pen: Penalty) -> Any:
        """State the solver keeps between iterations besides ``(W, H)`` (default: none).

        A solver with a carry (``_apg``'s extrapolated sequences) overrides this and
        ``advance``; the loop passes it from one iteration to the next.
        """
        return None

    def advance(self, carry, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        """One iteration with the carry: ``(W, H, stat, carry)``; default ``step``."""
        W, H, stat = self.step(data, W, H, loss, pen, mask, active, update_W, update_H, dims)
        return W, H, stat, carry

    def stop_init(self, e0: jax.Array) -> Any:
        """The stop rule's state, from the initial square-root loss ``e0 (B,)``."""
        return (e0, e0)  # (error at init, error at the previous check)

    def stop_after_iteration(self, state, stat, it, tol) -> tuple[jax.Array, Any]:
        """After iteration ``it`` (1-based): ``(stop (B,), state)``.  Default: never."""
        e0 = state[0]
        return jnp.zeros(e0.shape, bool), state

    def stop_after_check(self, state, err, tol, active) -> tuple[jax.Array, Any]:
        """After every ``CHECK_EVERY`` iterations, with the square-root loss ``err``.

        Default, scikit-learn's MU rule: stop once ``tol > 0`` and
        ``(err_previous_check - err) / err_init < tol``.
        """
        e0, prev = state
        stop = (tol > 0) & ((prev - err) / e0 < tol)
        return stop, (e0, jnp.where(active, err, prev))


class ViolationRule(AbstractSolver):
    """scikit-learn's coordinate-descent stop (``_fit_coordinate_descent``): after every
    iteration, stop once ``violation / violation_init <= tol``, where ``violation`` is the
    sum of absolute projected gradients met during the iteration's sweeps and
    ``violation_init`` that of the first iteration (a zero ``violation_init`` stops at once)."""

    stops_each_iteration: ClassVar[bool] = True

    def stop_init(self, e0):
        return jnp.zeros_like(e0)

    def stop_after_iteration(self, state, stat, it, tol):
        init = jnp.where(it == 1, stat, state)
        stop = (init == 0) | (stat / jnp.where(init == 0, 1.0, init) <= tol)
        return stop, init

    def stop_after_check(self, state, err, tol, active):
        return jnp.zeros(err.shape, bool), state
