"""``NMF``: factors ``W``, ``H`` as an equinox Module, for use inside user JAX code."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from . import _guards
from ._contract import w_h
from ._init import init_factors
from ._loss import divergence, penalty_value
from ._losses import AbstractLoss, resolve_loss
from ._regularization import Penalty, penalty
from ._updates import mu_step


class NMF(eqx.Module):
    """Non-negative factors ``W (..., M, K)``, ``H (..., K, N)`` with their loss and penalty.

    Every method is a pure, jittable function of the module and its arguments, so an ``NMF``
    can be stepped inside ``lax.scan``, ``jax.jit`` or a training loop, and differentiated
    through (``jax.grad`` of ``loss`` w.r.t. the module gives the registry's closed forms).

    Example::

        model = NMF.init(V, 8, loss="kl", key=jax.random.key(0))
        step = jax.jit(lambda m: m.step(V))
        for _ in range(100):
            model = step(model)
        model.loss(V)

    Attributes:
        W, H: the factors (batch axes allowed; they must agree).
        loss_type: a name of ``LOSSES`` or a float beta (static).
        alpha_W, alpha_H, l1_ratio: penalty settings as in ``fit`` (static).
    """

    W: jax.Array
    H: jax.Array
    loss_type: str | float = eqx.field(static=True, default="frobenius")
    alpha_W: float = eqx.field(static=True, default=0.0)
    alpha_H: float | str = eqx.field(static=True, default="same")
    l1_ratio: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        resolve_loss(self.loss_type, "loss_type")
        _guards.check_factor_pair(self.W, self.H)  # dtype, K, batch axes, values if concrete
        _guards.check_model_options(self.alpha_W, self.alpha_H, self.l1_ratio)

    @property
    def _loss(self) -> AbstractLoss:
        return resolve_loss(self.loss_type, "loss_type")

    def penalty(self, V_shape: tuple[int, ...]) -> Penalty:
        """Penalty weights for data of shape ``V_shape`` (scaled by its ``M``, ``N``)."""
        if not isinstance(V_shape, tuple | list) or len(V_shape) < 2:
            raise ValueError(f"V_shape must be a shape tuple (..., M, N), got {V_shape!r}")
        m, n = (_guards.int_option("V_shape", d) for d in V_shape[-2:])
        return penalty(self.alpha_W, self.alpha_H, self.l1_ratio, m, n)

    def reconstruct(self) -> jax.Array:
        """``W H``: ``(..., M, N)``."""
        return w_h(self.W, self.H)

    def loss(self, V: jax.Array, mask: jax.Array | None = None, square_root: bool = False):
        """The divergence ``D(V | WH)`` per problem (the loss's beta-divergence).

        ``square_root=True`` gives ``sqrt(2 D)``, the figure of ``fit``'s ``loss_history``.
        With a 0/1 ``mask``, only observed entries count.  ``V`` and ``mask`` are checked as
        ``fit`` checks them; data beyond the safe float range is evaluated on an exact
        rescaling (``_guards``), so ``square_root=True`` is finite whenever its value is.
        """
        square_root = _guards.check_bool("square_root", square_root)
        beta = _guards.loss_beta(self._loss)
        V, mask, W, H, k = _guards.model_data(self.W, self.H, V, mask, beta, traced=True)
        d = divergence(V, W, H, self._loss, mask)
        out = jnp.sqrt(2.0 * jnp.maximum(d, 0.0)) if square_root else d
        if isinstance(k, int) and k == 0:
            return out
        (out,) = _guards.unscale_losses(k if square_root else 2 * k, beta, d.dtype, out)
        return out

    def objective(self, V: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``D(V, WH)`` plus the penalty: what every ``step`` does not increase."""
        pen = self.penalty(tuple(jnp.shape(V)))
        return self.loss(V, mask) + penalty_value(self.W, self.H, pen)

    def step(self, V: jax.Array, mask: jax.Array | None = None) -> NMF:
        """One multiplicative-update iteration (``W`` then ``H``), as in ``fit``."""
        beta = _guards.loss_beta(self._loss)
        V, mask, W, H, k = _guards.model_data(self.W, self.H, V, mask, beta)
        assert isinstance(k, int)  # not traced=True: a Python int (0 under a user's jit)
        pen = self.penalty(tuple(V.shape))
        if k:  # out-of-range data: the equivalent step on the exactly rescaled problem
            pen = _guards.scale_penalty(pen, k, beta, W.dtype)
        W, H = mu_step(V, W, H, self._loss, pen, mask)
        if k:
            W, H = W * jnp.asarray(2.0**k, W.dtype), H * jnp.asarray(2.0**k, H.dtype)
        return eqx.tree_at(lambda m: (m.W, m.H), self, (W, H))

    def transform(
        self,
        V_new,
        *,
        solver: str = "mu",
        max_iter: int = 200,
        tol: float = 1e-4,
        mask=None,
    ) -> jax.Array:
        """``W`` for new rows ``V_new (..., M', N)`` with this ``H`` fixed (scikit-learn's
        ``NMF.transform``): ``fit(..., H0=self.H, update_H=False)``, same loss and penalty.
        """
        from ._fit import transform

        return transform(
            V_new, self.H, loss=self.loss_type, solver=solver, max_iter=max_iter, tol=tol,
            alpha_W=self.alpha_W, alpha_H=self.alpha_H, l1_ratio=self.l1_ratio, mask=mask,
        )  # fmt: skip

    @staticmethod
    def _observed(V, mask):
        if mask is None:
            return V
        return jnp.where(mask != 0, V, jnp.zeros((), jnp.result_type(V)))

    @classmethod
    def init(
        cls,
        V: jax.Array,
        rank: int,
        *,
        loss: str | float = "frobenius",
        init: str = "random",
        key=None,
        mask: jax.Array | None = None,
        alpha_W: float = 0.0,
        alpha_H: float | str = "same",
        l1_ratio: float = 0.0,
    ) -> NMF:
        """Initial factors for an unbatched ``V (M, N)`` by scheme ``init`` (as ``fit``).

        Every argument is checked as ``fit`` checks it (``init_factors``; ``loss`` and the
        penalty settings first, before any work).
        """
        resolve_loss(loss)
        _guards.check_model_options(alpha_W, alpha_H, l1_ratio)
        W, H = init_factors(V, rank, init, key, mask)
        return cls(W, H, loss_type=loss, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio)
