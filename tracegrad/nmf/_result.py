"""``NMFResult``: the factors of one fit (or a batch of fits) and how each one went.

Its methods ``transform`` and ``to_model`` import ``_fit`` and ``_model`` when called, not at the
top of this module: ``_fit`` returns an ``NMFResult`` and ``_model`` imports ``_fit``, so a
top-level import here would close an import circle.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class NMFResult(eqx.Module):
    """What ``tracegrad.nmf.fit`` returns.  Batch axes (``...``) are those of ``V``, or the key
    batch for replicates of an unbatched ``V``.

    Attributes:
        W: ``(..., M, K)`` fitted factor.
        H: ``(..., K, N)`` fitted factor.
        loss_history: ``(..., max_iter // 10 // s + 1)``: the square-root loss (``||V - WH||_F`` for
            Frobenius, ``sqrt(2 KL)`` for KL, scikit-learn's ``reconstruction_err_`` quantity;
            over observed entries when masked) at the initial factors, then after iterations 10,
            20, ...: the values the convergence test compares.  Entries after a problem stopped
            are NaN.  Recorded also when ``tol == 0`` (which never stops early).  The record has
            a fixed capacity of 1024 entries (``_loop.HISTORY_CAPACITY``), so that its size
            does not make ``max_iter`` part of the compiled program: ``s`` is 1 up to
            ``max_iter = 10230`` and above it the smallest power of two keeping at most 1024
            entries; entry ``j`` is then the loss after iteration ``10 s j`` (every check
            still runs the convergence test).
        loss_iterations: int32, shaped like ``loss_history``: the iteration after which each
            entry was recorded (``10 s j``, the same for every problem).
        n_iter: ``(...)`` int32, iterations run (scikit-learn's ``n_iter_``): the iteration at
            which the test passed, else ``max_iter``.
        converged: ``(...)`` bool, whether the relative-decrease test passed (it can pass at
            ``max_iter`` itself); always False when ``tol == 0``.
        loss: ``(...)`` square-root loss of the returned factors.
        loss_type: the loss's canonical name (``LOSSES``) or its float beta.
        solver, max_iter, tol: the solver name (``SOLVERS``) and stopping settings of the fit
            (``transform`` reuses them).
        alpha_W, alpha_H, l1_ratio: the regularisation the fit used.
    """

    W: jax.Array
    H: jax.Array
    loss_history: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    loss: jax.Array
    loss_iterations: jax.Array | None = None
    loss_type: str | float = eqx.field(static=True, default="frobenius")
    solver: str = eqx.field(static=True, default="mu")
    max_iter: int = eqx.field(static=True, default=200)
    tol: float = eqx.field(static=True, default=1e-4)
    alpha_W: float = eqx.field(static=True, default=0.0)
    alpha_H: float | str = eqx.field(static=True, default="same")
    l1_ratio: float = eqx.field(static=True, default=0.0)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch axes (``()`` for a single problem)."""
        return tuple(self.W.shape[:-2])

    def best(self, axis: int = 0) -> NMFResult:
        """The fit with the lowest final ``loss`` along batch ``axis`` (replicates: axis 0).

        NaN losses never win.  The chosen axis is removed from every field.
        """
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(f"axis must be an int, got {type(axis).__name__} {axis!r}")
        axis = int(axis)
        nb = len(self.batch_shape)
        if nb == 0:
            return self
        if not -nb <= axis < nb:
            raise ValueError(
                f"axis {axis} is not a batch axis of a result with batch shape {self.batch_shape}"
            )
        axis = axis % nb
        loss = jnp.where(jnp.isnan(self.loss), jnp.inf, self.loss)
        idx = jnp.argmin(loss, axis=axis, keepdims=True)

        def pick(x):
            i = idx.reshape(idx.shape + (1,) * (x.ndim - nb))
            return jnp.squeeze(jnp.take_along_axis(x, i, axis=axis), axis=axis)

        fields = ["W", "H", "loss_history", "n_iter", "converged", "loss"]
        if self.loss_iterations is not None:
            fields.append("loss_iterations")
        return eqx.tree_at(
            lambda r: [getattr(r, f) for f in fields],
            self,
            [pick(getattr(self, f)) for f in fields],
        )

    def transform(self, V_new, *, mask=None) -> jax.Array:
        """``W`` for new data ``V_new (..., M', N)`` with this fit's ``H`` fixed.

        scikit-learn's ``NMF.transform``: ``fit(V_new, K, H0=self.H, update_H=False)`` with the
        same loss, solver, penalty, ``max_iter`` and ``tol``; ``W`` starts at
        ``sqrt(mean V_new / K)``, or zeros for ``"hals"`` and ``"ahals"``.  A batched result
        takes a ``V_new`` with the same batch axes (or an unbatched one, fitted against every
        ``H``).  A ``V_new`` without ``H``'s ``N`` columns raises a ValueError naming it.
        """
        from ._fit import transform  # lazy: _fit imports this module (module docstring)

        return transform(
            V_new, self.H, loss=self.loss_type, solver=self.solver, max_iter=self.max_iter,
            tol=self.tol, alpha_W=self.alpha_W, alpha_H=self.alpha_H, l1_ratio=self.l1_ratio,
            mask=mask,
        )  # fmt: skip

    def to_model(self):
        """The fitted factors as an ``NMF`` module (same loss and regularisation)."""
        from ._model import NMF  # lazy: _model imports _fit, which imports this module

        return NMF(
            self.W,
            self.H,
            loss_type=self.loss_type,
            alpha_W=self.alpha_W,
            alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio,
        )
