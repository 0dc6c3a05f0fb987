"""``NMF``: factors ``W``, ``H`` as an equinox Module, for use inside user JAX code.

Every method called on concrete arrays checks its inputs on the host (NumPy, plain Python)
and then runs one compiled program (``_step_program``, ``_loss_program``), so a first call
compiles one program and later calls with new data or new penalty values compile nothing.
Inside a user's ``jit``, ``lax.scan`` or ``grad`` the same functions are traced into the
user's program; values only the device knows are checked there by ``equinox.error_if``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete, shape_str
from ._checks import (
    _x64,
    as_data,
    check_bool,
    check_data_host,
    check_factor_pair,
    int_option,
    prepare_traced_data,
    real_option,
    warn_x64,
)
from ._contract import w_h
from ._fit import transform as _transform
from ._init import init_factors
from ._loss import divergence, penalty_value
from ._losses import AbstractLoss, resolve_loss
from ._regularization import Penalty, penalty
from ._scale import (
    host_scaled_penalty,
    module_exponent,
    pow2,
    range_exponent_host,
    unscale_losses,
    warn_unscaled,
)
from ._updates import mu_step


class NMF(eqx.Module):
    """Non-negative factors ``W (..., M, K)``, ``H (..., K, N)`` with their loss and penalty.

    Every method is a pure, jittable function of the module and its arguments, so an ``NMF``
    can be stepped inside ``lax.scan``, ``jax.jit`` or a training loop, and differentiated
    through (``jax.grad`` of ``loss`` w.r.t. the module gives the registry's closed forms).
    Called outside a ``jit``, each method checks its arguments in Python and runs one
    compiled program per shape, dtype and loss.

    Example::

        model = NMF.init(V, 8, loss="kl", key=jax.random.key(0))
        step = jax.jit(lambda m: m.step(V))
        for _ in range(100):
            model = step(model)
        model.loss(V)

    Attributes:
        W, H: the factors (batch axes allowed; they must agree).
        loss_type: a name of ``LOSSES`` or a float beta (static: it selects the program).
        alpha_W, alpha_H, l1_ratio: penalty settings as in ``fit``.  They are data (pytree
            leaves), not static, so a jitted ``step`` compiles once for every value: Python
            numbers at construction (a traced scalar inside a ``jit``; a jitted function hands
            them back as JAX scalars).  ``alpha_H`` reads ``"same"`` when it follows
            ``alpha_W``.
    """

    W: jax.Array
    H: jax.Array
    loss_type: str | float = eqx.field(static=True)
    alpha_W: float | jax.Array
    _alpha_H: float | jax.Array | None  # None: "same" (alpha_W's value, whatever it becomes)
    l1_ratio: float | jax.Array

    def __init__(
        self,
        W: jax.Array,
        H: jax.Array,
        loss_type: str | float = "frobenius",
        alpha_W: float | jax.Array = 0.0,
        alpha_H: float | str | jax.Array = "same",
        l1_ratio: float | jax.Array = 0.0,
    ):
        self.W = W
        self.H = H
        self.loss_type = loss_type
        self.alpha_W = _setting("alpha_W", alpha_W)
        self._alpha_H = None if _setting_is_same(alpha_H) else _setting("alpha_H", alpha_H)
        self.l1_ratio = _setting("l1_ratio", l1_ratio, hi=1.0)

    def __check_init__(self):
        resolve_loss(self.loss_type, "loss_type")
        check_factor_pair(self.W, self.H)  # dtype, K, batch axes, values if concrete

    @property
    def alpha_H(self) -> float | str | jax.Array:
        """The penalty on ``H``: a number, or ``"same"`` (``alpha_W``'s)."""
        return "same" if self._alpha_H is None else self._alpha_H

    @property
    def _loss(self) -> AbstractLoss:
        return resolve_loss(self.loss_type, "loss_type")

    def penalty(self, V_shape: tuple[int, ...]) -> Penalty:
        """Penalty weights for data of shape ``V_shape`` (scaled by its ``M``, ``N``).

        Python floats when the settings are concrete; scalars of the program (in the
        factors' dtype) when they are traced.
        """
        if not isinstance(V_shape, tuple | list) or len(V_shape) < 2:
            raise ValueError(f"V_shape must be a shape tuple (..., M, N), got {V_shape!r}")
        m, n = (int_option("V_shape", d) for d in V_shape[-2:])
        settings = (self.alpha_W, self._alpha_H, self.l1_ratio)
        if all(is_concrete(x) for x in settings):  # the host's float64 arithmetic, as fit's
            a_H = "same" if self._alpha_H is None else float(np.asarray(self._alpha_H))
            a_W, r = float(np.asarray(self.alpha_W)), float(np.asarray(self.l1_ratio))
            return penalty(a_W, a_H, r, m, n)
        return _traced_penalty(*settings, m, n, np.dtype(self.W.dtype))

    def reconstruct(self) -> jax.Array:
        """``W H``: ``(..., M, N)``."""
        return w_h(self.W, self.H)

    def loss(self, V: jax.Array, mask: jax.Array | None = None, square_root: bool = False):
        """The divergence ``D(V | WH)`` per problem (the loss's beta-divergence).

        ``square_root=True`` gives ``sqrt(2 D)``, the figure of ``fit``'s ``loss_history``.
        With a 0/1 ``mask``, only observed entries count.  ``V`` and ``mask`` are checked as
        ``fit`` checks them; data beyond the safe float range is evaluated on an exact
        rescaling (``_scale``), so ``square_root=True`` is finite whenever its value is.
        """
        square_root = check_bool("square_root", square_root)
        return self._evaluate(V, mask, square_root, with_penalty=False)

    def objective(self, V: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """``D(V, WH)`` plus the penalty: what every ``step`` does not increase."""
        return self._evaluate(V, mask, False, with_penalty=True)

    def _evaluate(self, V, mask, square_root: bool, with_penalty: bool) -> jax.Array:
        """``loss`` (and with the penalty, ``objective``): host checks, then one program."""
        loss = self._loss
        data = _model_data(self.W, self.H, V, mask, loss.beta)
        if data.k is None:
            # beyond the host's sight (traced data or factors): the exponent, from V and WH
            # together (``_scale.module_exponent``), is computed in the program
            scale = "traced"
        else:
            scale = "host" if data.k else "none"
        pen = self.penalty(tuple(np.shape(data.V))) if with_penalty else None
        out, scaled = _loss_program(
            data.V, data.mask, self.W, self.H, np.asarray(data.k or 0, np.int32),
            _weights(pen, self.W.dtype), loss=loss, square_root=square_root,
            guard=data.guard, scale=scale,
        )  # fmt: skip
        if scale == "host" and is_concrete(out):
            # the rescaled loss is finite but reads inf or 0 in V's units: say so
            warn_unscaled(np.asarray(scaled), np.asarray(out), self.W.dtype)
        return out

    def step(self, V: jax.Array, mask: jax.Array | None = None) -> NMF:
        """One multiplicative-update iteration (``W`` then ``H``), as in ``fit``."""
        loss = self._loss
        data = _model_data(self.W, self.H, V, mask, loss.beta)
        k = data.k or 0  # under a user's jit, no rescaling (no per-step cost)
        pen = self.penalty(tuple(np.shape(data.V)))
        if k:  # out-of-range data: the equivalent step on the exactly rescaled problem
            pen = host_scaled_penalty(pen, k, loss.beta)
        W, H = _step_program(
            data.V, data.mask, self.W, self.H, _weights(pen, self.W.dtype),
            np.asarray(k, np.int32), loss=loss, guard=data.guard, rescaled=k != 0,
        )  # fmt: skip
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
        return _transform(
            V_new, self.H, loss=self.loss_type, solver=solver, max_iter=max_iter, tol=tol,
            alpha_W=self.alpha_W, alpha_H=self.alpha_H, l1_ratio=self.l1_ratio, mask=mask,
        )  # fmt: skip

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
        penalty settings first, before any work).  One compiled program (``init_factors``'s).
        """
        resolve_loss(loss)
        _setting("alpha_W", alpha_W)
        if not _setting_is_same(alpha_H):
            _setting("alpha_H", alpha_H)
        _setting("l1_ratio", l1_ratio, hi=1.0)
        W, H = init_factors(V, rank, init, key, mask)
        return cls(W, H, loss_type=loss, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio)


# ------------------------------------------------------------------- the penalty settings


def _setting_is_same(value) -> bool:
    """``alpha_H`` follows ``alpha_W`` (a string other than ``"same"`` is refused by name)."""
    if isinstance(value, str):
        if value != "same":
            raise ValueError(f'alpha_H must be a number >= 0 or "same", got {value!r}')
        return True
    return False


def _setting(name: str, value, *, hi: float = math.inf) -> float | jax.Array:
    """A penalty setting of the module: a Python float after checking a concrete number (as
    ``fit`` checks it); a traced real scalar as it is; a concrete 0-d JAX array (what a
    jitted function hands back for the field) checked and kept.

    NumPy arrays are refused, as when these fields were static (pass ``float(x)``).

    Raises:
        TypeError: not a real number (a string, a bool, a list, an array that is not a real
            scalar).
        ValueError: NaN, infinite, negative, or above ``hi``.
    """
    if isinstance(value, jax.Array):
        if value.shape != () or np.dtype(value.dtype).kind not in "fiu":
            raise TypeError(
                f"{name} must be a real number, got an array of shape "
                f"{shape_str(value.shape)} and dtype {value.dtype}"
            )
        if is_concrete(value):
            real_option(name, np.asarray(value).item(), hi=hi)
        return value
    if isinstance(value, np.ndarray):
        raise TypeError(
            f"{name} must be a Python number, got a NumPy array (pass float(x); the module "
            f"converts it to the factors' dtype itself)"
        )
    return real_option(name, value, hi=hi)  # a float (so every value traces alike)


def _traced_penalty(alpha_W, alpha_H, l1_ratio, m: int, n: int, dtype) -> Penalty:
    """``_regularization.penalty`` of traced settings, in float64 when x64 is on (the
    host's arithmetic, so the weights round as those of Python floats) and else in
    ``dtype``; the weights in ``dtype``."""
    ct = jnp.float64 if jax.config.read("jax_enable_x64") else dtype
    a_W = jnp.asarray(alpha_W, ct)
    a_H = a_W if alpha_H is None else jnp.asarray(alpha_H, ct)
    r = jnp.asarray(l1_ratio, ct)
    pen = Penalty(l1_W=n * a_W * r, l1_H=m * a_H * r, l2_W=n * a_W * (1.0 - r),
                  l2_H=m * a_H * (1.0 - r))  # fmt: skip
    return jax.tree.map(lambda w: w.astype(dtype), pen)


def _weights(pen: Penalty | None, dtype) -> Penalty | None:
    """Penalty weights as arguments of a program: concrete ones as ``dtype`` NumPy scalars
    (the value a Python float takes in the factors' dtype), traced ones as they are."""
    if pen is None:
        return None
    return jax.tree.map(lambda w: np.asarray(w, dtype) if is_concrete(w) else w, pen)


# ------------------------------------------------------------------- checks on the host


class _Data(NamedTuple):
    """``_model_data``'s result: the checked ``V``, ``mask`` (NumPy when concrete), whether
    their values must be checked in the program (``guard``), and the host's rescaling
    exponent ``k`` (None when the data or the factors are traced)."""

    V: Any
    mask: Any
    guard: bool
    k: int | None


def _model_data(W, H, V, mask, beta: float) -> _Data:
    """``NMF`` methods' data checked as ``fit`` checks it, on the host (no compiled op).

    ``V`` must be ``(..., M, N)`` for the module's ``W (..., M, K)``, ``H (..., K, N)`` with
    batch axes that broadcast.  When ``V``, ``mask``, ``W`` and ``H`` are concrete, ``k`` is
    ``_scale.module_exponent``'s (0 in the safe range), after ``_scale.range_exponent_host``'s
    refusal of a batch spread too wide for one scale.
    """
    dt = np.dtype(W.dtype)
    V = as_data("V", V)
    if np.dtype(V.dtype) == np.float64 and dt == np.float32 and not _x64():
        warn_x64("V", V, "the NMF module (float32 factors)")
    V, mask, v_max = check_data_host(V, mask, dt)
    m, n = W.shape[-2], H.shape[-1]
    shape = tuple(np.shape(V))
    if shape[-2:] != (m, n):
        raise ValueError(
            f"V (shape {shape_str(shape)}) does not fit the factors: W is "
            f"{shape_str(W.shape)} and H {shape_str(H.shape)}, so V must be (..., {m}, {n})"
        )
    try:
        np.broadcast_shapes(shape[:-2], W.shape[:-2], H.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the batch axes of V (shape {shape_str(shape)}) do not broadcast with the "
            f"factors' (W {shape_str(W.shape)}, H {shape_str(H.shape)})"
        ) from None
    guard = v_max is None
    if guard or not (is_concrete(W) and is_concrete(H)):
        return _Data(V, mask, guard, None)
    range_exponent_host(np.asarray(v_max).astype(dt), dt, beta, m * n)  # its refusal
    observed = V if mask is None else np.where(mask != 0, V, 0)
    k = module_exponent(
        observed.astype(dt), np.asarray(W), np.asarray(H), dt, beta
    )  # NumPy in, so computed on the host
    return _Data(V, mask, False, int(k))


# ----------------------------------------------------------------------- the programs


@functools.partial(jax.jit, static_argnames=("loss", "guard", "rescaled"))
def _step_program(V, mask, W, H, pen, k, *, loss, guard, rescaled):
    """``NMF.step`` after its host checks: one MU iteration, on ``V / 4^k``, ``W / 2^k``,
    ``H / 2^k`` and the host's rescaled penalty when ``rescaled`` (else unscaled: in-range
    data runs exactly the MU step), the factors scaled back."""
    dt = W.dtype
    V, mask = prepare_traced_data(V, mask, dt, guard)
    if rescaled:
        down = pow2(-k, dt)
        V, W, H = V * pow2(-2 * k, dt), W * down, H * down
    W, H = mu_step(V, W, H, loss, pen, mask)
    if rescaled:
        up = pow2(k, dt)
        W, H = W * up, H * up
    return W, H


@functools.partial(jax.jit, static_argnames=("loss", "square_root", "guard", "scale"))
def _loss_program(V, mask, W, H, k, pen, *, loss, square_root, guard, scale):
    """``NMF.loss`` (with ``pen``, ``objective``) after its host checks.

    ``scale``: ``"none"`` (in range: the divergence of the data as it is), ``"host"`` (on
    the exact rescaling by the host's ``k``) or ``"traced"`` (``k`` computed here, from
    ``V`` and ``WH`` together).  Returns the loss in ``V``'s units (plus the penalty at
    ``W``, ``H``) and, for ``"host"``, the loss before unscaling (the host's warnings; else
    None).
    """
    dt = W.dtype
    V, mask = prepare_traced_data(V, mask, dt, guard)
    Ws, Hs = W, H
    if scale == "traced":
        k = module_exponent(V, W, H, dt, loss.beta)
    if scale != "none":
        down = pow2(-k, dt)
        V, Ws, Hs = V * pow2(-2 * k, dt), W * down, H * down
    d = divergence(V, Ws, Hs, loss, mask)
    out = jnp.sqrt(2.0 * jnp.maximum(d, 0.0)) if square_root else d
    scaled = out if scale == "host" else None  # an extra output only where it is read
    if scale != "none":
        (out,) = unscale_losses(k if square_root else 2 * k, loss.beta, dt, out)
    if pen is not None:
        out = out + penalty_value(W, H, pen)
    return out, scaled
