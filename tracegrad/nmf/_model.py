"""``NMF``: factors ``W``, ``H`` as an equinox Module, for use inside user JAX code."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._contract import w_h
from ._init import init_factors
from ._loss import divergence, penalty_value
from ._losses import AbstractLoss, resolve_loss
from ._regularization import Penalty, penalty
from ._updates import mu_step
from ._validate import as_keys


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
        if jnp.ndim(self.W) < 2 or jnp.ndim(self.H) < 2 or self.W.shape[-1] != self.H.shape[-2]:
            raise ValueError(
                f"W (..., M, K) and H (..., K, N) must share K: got W shape {jnp.shape(self.W)} "
                f"and H shape {jnp.shape(self.H)}"
            )

    @property
    def _loss(self) -> AbstractLoss:
        return resolve_loss(self.loss_type, "loss_type")

    def penalty(self, V_shape: tuple[int, ...]) -> Penalty:
        """Penalty weights for data of shape ``V_shape`` (scaled by its ``M``, ``N``)."""
        m, n = V_shape[-2:]
        return penalty(self.alpha_W, self.alpha_H, self.l1_ratio, m, n)

    def reconstruct(self) -> jax.Array:
        """``W H``: ``(..., M, N)``."""
        return w_h(self.W, self.H)

    def loss(self, V: jax.Array, mask: jax.Array | None = None, square_root: bool = False):
        """The divergence ``D(V | WH)`` per problem (the loss's beta-divergence).

        ``square_root=True`` gives ``sqrt(2 D)``, the figure of ``fit``'s ``loss_history``.
        With a 0/1 ``mask``, only observed entries count.
        """
        V = self._observed(V, mask)
        d = divergence(V, self.W, self.H, self._loss, mask)
        return jnp.sqrt(2.0 * jnp.maximum(d, 0.0)) if square_root else d

    def objective(self, V: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``D(V, WH)`` plus the penalty: what every ``step`` does not increase."""
        pen = self.penalty(jnp.shape(V))
        return self.loss(V, mask) + penalty_value(self.W, self.H, pen)

    def step(self, V: jax.Array, mask: jax.Array | None = None) -> NMF:
        """One multiplicative-update iteration (``W`` then ``H``), as in ``fit``."""
        V = self._observed(V, mask)
        W, H = mu_step(V, self.W, self.H, self._loss, self.penalty(jnp.shape(V)), mask)
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
        from ._fit import fit

        r = fit(
            V_new, self.H.shape[-2], loss=self.loss_type, solver=solver, max_iter=max_iter,
            tol=tol, H0=self.H, update_H=False, alpha_W=self.alpha_W, alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio, mask=mask, dtype=self.H.dtype,
        )  # fmt: skip
        return r.W

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
        """Initial factors for an unbatched ``V (M, N)`` by scheme ``init`` (as ``fit``)."""
        keys = as_keys(key)
        keys = jax.random.key(0) if keys is None else keys
        V = cls._observed(V, mask)
        W, H = init_factors(V, rank, init, keys, mask)
        return cls(W, H, loss_type=loss, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio)
