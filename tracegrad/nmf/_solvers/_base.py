"""The interface every NMF solver implements: one iteration, and its own stopping rule.

``_loop.fit_loop`` is generic: it calls ``advance`` once per iteration for all problems,
then ``stop_after_iteration`` (per-iteration rules, e.g. coordinate descent's violation), and
every ``CHECK_EVERY`` iterations computes the square-root loss for the history and calls
``stop_after_check`` (MU's relative-decrease rule).  A problem that stopped is frozen:
``advance`` leaves its factors exactly unchanged where ``active`` is False.

The bases follow equinox's abstract/final convention: every method or class attribute a
solver must provide is abstract (``abc.abstractmethod``, ``AbstractClassVar``) on an
``Abstract*`` class, a concrete solver is final and overrides nothing concrete, and a solver
that leaves one out cannot be instantiated (``TypeError``; ``SOLVERS`` instantiates every
solver at import).  A solver combines one iteration base (``AbstractStepSolver``, or its own
``init_carry``/``advance``) with one stop rule (``AbstractDecreaseRule``,
``AbstractViolationRule``).

No ``from __future__ import annotations`` in the modules that declare abstract attributes:
equinox reads ``AbstractVar``/``AbstractClassVar`` from the evaluated annotations (it refuses
a stringified ``AbstractClassVar[...]`` and silently ignores a stringified
``eqx.AbstractClassVar[...]``).
"""

import abc
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._losses import AbstractLoss
from .._regularization import Penalty

if TYPE_CHECKING:
    # pyright reads equinox's own alias as an instance field; this one as a ClassVar
    from typing import ClassVar as AbstractClassVar
else:
    from equinox import AbstractClassVar


def keep(active, new, old):
    """``new`` where the problem is active, ``old`` (exactly) where it is frozen."""
    if active is None:
        return new
    return jnp.where(active.reshape(active.shape + (1,) * (new.ndim - active.ndim)), new, old)


class AbstractSolver(eqx.Module):
    """An NMF solver: static configuration of the compiled loop (hashable, holds no arrays).

    Attributes (class level, each solver sets them):
        name: the name in ``SOLVERS``.
        zero_W_start: ``update_H=False`` without ``W0`` starts from zeros (coordinate
            descent can leave zero; multiplicative updates cannot, so they start from
            ``sqrt(mean V / K)``, as scikit-learn).
        frobenius_only: the solver minimises the (penalised) Frobenius loss, unmasked;
            ``check`` refuses anything else.
        stops_each_iteration: the stop rule reads every iteration's ``stat`` (set by the
            stop-rule base), so the loop passes ``active`` even to an unbatched problem.
        worker_threads: a batch may run as concurrent groups in host threads (``_workers``);
            False where concurrent runs of its program were seen to hang (``"admm"``).
    """

    name: AbstractClassVar[str]
    zero_W_start: AbstractClassVar[bool]
    frobenius_only: AbstractClassVar[bool]
    stops_each_iteration: AbstractClassVar[bool]
    worker_threads: AbstractClassVar[bool]

    def check(self, loss: AbstractLoss, masked: bool, others: str) -> None:
        """Raise ValueError if this solver cannot minimise ``loss`` (with a mask); the message
        names ``others``, the solvers that can (``check_solver`` reads them off the table)."""
        if not self.frobenius_only:
            return
        if loss.beta != 2:
            raise ValueError(
                f"solver={self.name!r} minimises the Frobenius loss only, got "
                f"loss={loss.name!r}; use solver={others} for other beta-divergences"
            )
        if masked:
            raise ValueError(
                f"solver={self.name!r} does not support mask= (it has no weighted form); "
                f"use solver={others} for masked NMF"
            )

    @abc.abstractmethod
    def init_carry(self, data, W: jax.Array, H: jax.Array, pen: Penalty) -> Any:
        """State the solver keeps between iterations besides ``(W, H)`` (None if none);
        the loop passes it from one iteration to the next."""

    @abc.abstractmethod
    def advance(
        self,
        carry,
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
    ) -> tuple[jax.Array, jax.Array, Any, Any]:
        """One iteration for all problems: ``(W, H, stat, carry)``; ``stat`` feeds the stop
        rule.

        ``data``: ``V`` or a ``_contract.Data``; ``W (B, M, K)``, ``H (B, K, N)``; ``active``:
        ``(B,)`` bool or None (all active); frozen problems keep their factors exactly.
        ``dims``: the problem's real ``(M, N, K)`` (the sharded fit pads ``M`` with zero rows;
        cost-based choices must not see the padding).
        """

    @abc.abstractmethod
    def stop_init(self, e0: jax.Array) -> Any:
        """The stop rule's state, from the initial square-root loss ``e0 (B,)``."""

    @abc.abstractmethod
    def stop_after_iteration(self, state, stat, it, tol) -> tuple[jax.Array, Any]:
        """After iteration ``it`` (1-based): ``(stop (B,), state)``."""

    @abc.abstractmethod
    def stop_after_check(self, state, err, tol, active) -> tuple[jax.Array, Any]:
        """After every ``CHECK_EVERY`` iterations, with the square-root loss ``err``:
        ``(stop (B,), state)``."""


class AbstractStepSolver(AbstractSolver):
    """A solver without a carry: a subclass supplies ``step``, one iteration from ``(W, H)``
    alone."""

    @abc.abstractmethod
    def step(
        self, data, W, H, loss, pen, mask, active, update_W, update_H, dims
    ) -> tuple[jax.Array, jax.Array, Any]:
        """One iteration for all problems: ``(W, H, stat)`` (arguments as ``advance``'s)."""

    def init_carry(self, data, W, H, pen):
        return None

    def advance(self, carry, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        W, H, stat = self.step(data, W, H, loss, pen, mask, active, update_W, update_H, dims)
        return W, H, stat, carry


class AbstractDecreaseRule(AbstractSolver):
    """scikit-learn's MU stop: after every ``CHECK_EVERY`` iterations, stop once ``tol > 0``
    and ``(err_previous_check - err) / err_init < tol``; nothing after single iterations."""

    stops_each_iteration = False

    def stop_init(self, e0):
        return (e0, e0)  # (error at init, error at the previous check)

    def stop_after_iteration(self, state, stat, it, tol):
        e0 = state[0]
        return jnp.zeros(e0.shape, bool), state

    def stop_after_check(self, state, err, tol, active):
        e0, prev = state
        stop = (tol > 0) & ((prev - err) / e0 < tol)
        return stop, (e0, jnp.where(active, err, prev))


class AbstractViolationRule(AbstractSolver):
    """scikit-learn's coordinate-descent stop (``_fit_coordinate_descent``): after every
    iteration, stop once ``violation / violation_init <= tol``, where ``violation`` (the
    iteration's ``stat``) is the sum of absolute projected gradients met during the
    iteration's sweeps and ``violation_init`` that of the first iteration (a zero
    ``violation_init`` stops at once)."""

    stops_each_iteration = True

    def stop_init(self, e0):
        return jnp.zeros_like(e0)

    def stop_after_iteration(self, state, stat, it, tol):
        init = jnp.where(it == 1, stat, state)
        stop = (init == 0) | (stat / jnp.where(init == 0, 1.0, init) <= tol)
        return stop, init

    def stop_after_check(self, state, err, tol, active):
        return jnp.zeros(err.shape, bool), state
