"""Extrapolation with restarts between outer iterations of alternating factor updates.

Ang & Gillis 2019, "Accelerating nonnegative matrix factorization algorithms using
extrapolation" (Neural Computation 31(2)), Algorithm 2.  ``AbstractExtrapolation`` is the
scheme around any pair of factor updates (``update_W``, ``update_H``); ``AbstractExtrapolated``
fills them with approximate NNLS solves of the Frobenius subproblems (``"apg"``, ``"ehals"``);
``_emu`` with multiplicative updates for any beta.  The scheme:

* ``W_n`` updates ``W`` from ``(W_y, H_y)``; ``W_y <- max(W_n + beta (W_n - W_{n-1}), 0)``;
  ``H_n`` updates ``H`` against the new ``W_y``; ``H_y`` likewise.
* If the objective of the pair ``(W_y, H_n)`` rose, the sequences restart from ``(W_n, H_n)``
  and ``beta`` shrinks by ``ETA``; otherwise ``beta`` grows by ``gamma`` up to a cap that itself
  grows by ``gamma_bar`` (and falls back to the last good ``beta`` on a restart).  Per problem
  in a batch.  ``gamma``, ``gamma_bar``: each solver's class attributes.

The pair returned after every iteration is the best ``(W_y, H_n)`` so far (both nonnegative),
so the loss the loop sees never rises and the stop rule is MU's (relative decrease at every
check).  ``update_H`` returns the penalised objective of that pair with ``H_n``.

Frobenius (``AbstractExtrapolated``): the objective of a pair comes from the ``H`` products
already formed, ``||V||^2 - 2 <W^T V, H> + <W^T W, H H^T>`` plus the penalties (Ang & Gillis's
error), in the working dtype: when the fit is within about ``sqrt(eps)`` of exact, the
restart test sees rounding.  Subproblems: ``G = H H^T + l2_W I``, ``R = V H^T - l1_W`` for
``W``; ``G = W^T W + l2_H I``, ``R = W^T V - l1_H`` for ``H`` (the penalised objective's
gradient is ``W G - R``, resp. ``G H - R``).

No ``from __future__ import annotations``: equinox reads ``AbstractVar``/``AbstractClassVar``
from the evaluated annotations (``_base``'s docstring).
"""

import abc
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar

from .._contract import Data, gram_h, gram_w, v_ht, wt_v
from ._base import AbstractDecreaseRule
from ._hals import _diag_add

if TYPE_CHECKING:  # as in ``_base``: pyright reads this alias as a ClassVar
    from typing import ClassVar as AbstractClassVar
else:
    from equinox import AbstractClassVar

BETA0, ETA = 0.5, 1.5
"""Ang & Gillis's initial ``beta`` and its decrease on a restart (their code's defaults)."""

MAX_INNER = 1000
"""Most inner updates per subproblem (``inner``): ``"apg"``'s table of Nesterov weights has
this many entries.  Far above any useful setting (the defaults are 20 and 5)."""


def _check_inner(inner, unit: str) -> None:
    """Refuse an ``inner`` that is not an integer in ``[1, MAX_INNER]``: a Python int or an
    integer scalar array, checked on the host.  A traced value (the solver rebuilt inside a
    jitted function) cannot be checked here; it was checked where it was made concrete."""
    bad = f"inner ({unit} per subproblem) must be a positive int at most {MAX_INNER}, got "
    if isinstance(inner, bool):
        raise ValueError(bad + repr(inner))
    if isinstance(inner, int):
        value = inner
    else:
        try:
            arr = np.asarray(inner)
        except jax.errors.TracerArrayConversionError:
            return
        if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(bad + repr(inner))
        value = int(arr)
    if not 1 <= value <= MAX_INNER:
        raise ValueError(bad + repr(inner))


def _per_problem(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape + (1, 1))


class AbstractExtrapolation(AbstractDecreaseRule):
    """Ang & Gillis's extrapolation with restarts around a pair of factor updates (module
    docstring), MU's stop rule on the best pair so far.  A subclass supplies ``update_W``,
    ``update_H`` and:

    Attributes:
        name: the name in ``SOLVERS`` (class level).
        gamma: ``beta``'s growth factor after an iteration without restart (class level).
        gamma_bar: its cap's growth factor (class level).
        kept: the extrapolated point keeps at least this fraction of each entry of the
            update, ``max(F_n + beta (F_n - F_{n-1}), kept F_n)`` (0: the projection on
            ``F >= 0``; class level).
    """

    zero_W_start = False

    worker_threads = True
    gamma: AbstractClassVar[float]
    gamma_bar: AbstractClassVar[float]
    kept: AbstractClassVar[float]

    @abc.abstractmethod
    def update_W(self, data, W, H, loss, pen, mask, active) -> tuple[jax.Array, jax.Array]:
        """``(W_n, H)``: ``W``'s update from ``(W, H)`` and ``H`` in the new ``W``'s scale
        (``W_n H`` unchanged by any rescaling); problems not ``active`` keep both exactly."""

    @abc.abstractmethod
    def update_H(
        self, data, W, H, loss, pen, mask, active, update_H: bool, sq_v
    ) -> tuple[jax.Array, jax.Array]:
        """``(H_n, e)``: ``H``'s update against ``W`` (``H`` itself when not ``update_H``)
        and the penalised objective of ``(W, H_n)`` per problem; ``sq_v``: ``||V||^2`` per
        problem (the Frobenius objective's constant)."""

    def init_carry(self, data, W, H, pen):
        V = data.V if isinstance(data, Data) else data
        B = W.shape[:-2]
        sq_v = jnp.broadcast_to(jnp.sum(V * V, axis=(-2, -1)), B)
        beta = jnp.full(B, BETA0, W.dtype)
        inf = jnp.full(B, jnp.inf, W.dtype)
        # (previous W_n, H_n), extrapolated (W_y, H_y), beta, its cap, the previous beta,
        # the last objective, the best objective, ||V||^2
        return (W, H, W, H, beta, jnp.ones(B, W.dtype), beta, inf, inf, sq_v)

    def advance(self, carry, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        Wp, Hp, Wy, Hy, beta, cap, beta_prev, e_prev, e_best, sq_v = carry
        b = _per_problem(beta)
        zero = jnp.zeros((), W.dtype)

        def extrapolate(Fn, Fp):
            low = zero if self.kept == 0 else jnp.asarray(self.kept, Fn.dtype) * Fn
            return jnp.maximum(Fn + b * (Fn - Fp), low)

        if update_W:
            Wn, Hy = self.update_W(data, Wy, Hy, loss, pen, mask, active)
            Wx = extrapolate(Wn, Wp)
        else:
            Wn = Wx = Wy
        Hn, e = self.update_H(data, Wx, Hy, loss, pen, mask, active, update_H, sq_v)
        Hx = extrapolate(Hn, Hp) if update_H else Hn
        restart = e > e_prev
        r = _per_problem(restart)
        Wy_next = jnp.where(r, Wn, Wx)
        Hy_next = jnp.where(r, Hn, Hx)
        beta_next = jnp.where(restart, beta / ETA, jnp.minimum(cap, beta * self.gamma))
        cap_next = jnp.where(restart, beta_prev, jnp.minimum(1.0, cap * self.gamma_bar))
        better = e <= e_best
        take = _per_problem(better if active is None else better & active)
        # a stopped problem never resumes: its factors are kept exactly, its carry is dead
        best = jnp.where(better, e, e_best)
        carry = (Wn, Hn, Wy_next, Hy_next, beta_next, cap_next, beta, e, best, sq_v)
        return jnp.where(take, Wx, W), jnp.where(take, Hn, H), None, carry


class AbstractExtrapolated(AbstractExtrapolation):
    """Alternating NNLS with extrapolation and restarts (module docstring); Frobenius, no
    mask.  A subclass supplies ``subproblem`` and (besides ``AbstractExtrapolation``'s):

    Attributes:
        inner: inner updates per subproblem (a field, checked by ``__check_init__``).
        inner_unit: what one of the ``inner`` updates is, for messages (class level).
    """

    frobenius_only = True
    kept = 0.0
    inner: AbstractVar[int | jax.Array]
    inner_unit: AbstractClassVar[str]

    def __check_init__(self):
        _check_inner(self.inner, self.inner_unit)

    @abc.abstractmethod
    def subproblem(self, F, G, R, right: bool, active) -> jax.Array:
        """An approximate solution of ``min 1/2 <F, F G> - <R, F>`` (``right``: ``F (B, M,
        K)``) or ``min 1/2 <F, G F> - <R, F>`` (``F (B, K, N)``) over ``F >= 0``, from ``F``;
        problems not ``active`` (``(B,)`` bool or None) keep ``F`` exactly."""

    def update_W(self, data, W, H, loss, pen, mask, active):
        G = _diag_add(gram_h(H), pen.l2_W)
        return self.subproblem(W, G, v_ht(data, H) - pen.l1_W, True, active), H

    def update_H(self, data, W, H, loss, pen, mask, active, update_H, sq_v):
        G = _diag_add(gram_w(W), pen.l2_H)
        R = wt_v(W, data) - pen.l1_H
        Hn = self.subproblem(H, G, R, False, active) if update_H else H
        # the penalised objective of (W, Hn) from the H products (module docstring)
        e = 0.5 * sq_v - jnp.sum(R * Hn, axis=(-2, -1))
        e = e + 0.5 * jnp.sum(G * jnp.einsum("...kn,...ln->...kl", Hn, Hn), axis=(-2, -1))
        e = (
            e
            + pen.l1_W * jnp.sum(W, axis=(-2, -1))
            + 0.5 * pen.l2_W * jnp.sum(W * W, axis=(-2, -1))
        )
        return Hn, e
