"""``with_grad``: make ``jax.grad`` use a hand-derived gradient, through ``jax.custom_vjp``.

Ten lines::

    import jax, jax.numpy as jnp, tracegrad

    def objective(X, W, H):                            # ||X - W H||_F^2
        return jnp.sum((X - W @ H) ** 2)

    def gradient(X, W, H):                             # trace notes eq. (24), by hand
        return 2 * (W @ (H @ H.T) - X @ H.T)

    f = tracegrad.with_grad(objective, gradient, argnums=1, check="every:100")
    X, W, H = tracegrad.identity("traa.eq24_W").arguments(0, jnp.float32)
    g = jax.jit(jax.grad(f, argnums=1))(X, W, H)       # runs the closed form, audited
    f24 = tracegrad.identity("traa.eq24_W").as_function()   # same, for a registry entry

Semantics, in full:

* ``f(*args)`` equals ``objective(*args)``; ``objective`` must return a scalar.
* Reverse mode (``jax.grad``, ``jax.vjp``, ``jax.value_and_grad``, optax training steps)
  w.r.t. the arguments in ``argnums`` runs ``gradient(*args)`` times the incoming cotangent, so
  the rule composes with ``jit``, ``vmap`` and the chain rule of any larger loss.
* Arguments *not* in ``argnums`` that autodiff nevertheless asks about (``jax.grad(f,
  argnums=0)`` on a bridge for argument 1, or an argument that depends on the parameters) get
  their cotangent from ``jax.vjp`` of ``objective``: never a silent zero.  Pass
  ``uncovered="error"`` to make that a trace-time error instead.  Only the arguments autodiff
  actually differentiates are computed (``jax.custom_vjp`` with symbolic zeros).
* Second derivatives (``jax.hessian``, grad of grad) differentiate the hand-written gradient
  itself, so they are exact exactly when it is.  With ``hvp=`` (a single int ``argnums``) the
  gradient is wrapped in a ``jax.custom_jvp`` whose tangent rule is the hand-written
  Hessian-vector product, so ``jax.jvp(jax.grad(f))``, ``jax.hessian(f)`` and grad of grad run
  the closed form.  Forward mode applied directly to ``f``
  (``jax.jvp``, ``jax.jacfwd`` of ``f``) is not supported by ``jax.custom_vjp`` and raises
  ``TypeError``.
* ``check=...`` turns on the shadow mode (``tracegrad/_bridge/shadow.py``): on selected backward
  passes the closed form is compared with autodiff inside the same trace.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from . import shadow as _shadow

__all__ = ["with_grad"]


class _Static:
    """A pytree node without children: carries Python data (perturbed flags) through residuals."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


jax.tree_util.register_pytree_node(
    _Static, lambda s: ((), s.value), lambda value, _: _Static(value)
)


def _is_primal(x) -> bool:
    return isinstance(x, CustomVJPPrimal)


def _is_float(x) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _positional_names(fn: Callable) -> tuple[str, ...] | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return tuple(p.name for p in params if p.kind in kinds)


def _normalize_argnums(argnums) -> tuple[tuple[int, ...], bool]:
    def is_int(i) -> bool:  # NumPy integers (np.int64(1)) count as ints
        return isinstance(i, int | np.integer) and not isinstance(i, bool | np.bool_)

    if isinstance(argnums, np.ndarray) and argnums.ndim == 0:
        argnums = argnums.item()
    if is_int(argnums):
        return (int(argnums),), True
    if isinstance(argnums, str) or not isinstance(argnums, Sequence | np.ndarray):
        raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}")
    nums = tuple(argnums)
    if not nums or not all(is_int(i) for i in nums):
        raise TypeError(f"argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    return tuple(int(i) for i in nums), False


def _resolve(nums: tuple[int, ...], n_args: int, name: str) -> tuple[int, ...]:
    out = []
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(
                f"{name}: argnums={nums} refers to argument {i}, but it was called with "
                f"{n_args} positional arguments"
            )
        out.append(i % n_args)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: argnums={nums} names the same argument twice")
    return tuple(out)


def _label(argnames: Sequence[str] | None, i: int) -> str:
    if argnames is not None and i < len(argnames):
        return f"argument {i} ({argnames[i]})"
    return f"argument {i}"


def _leaf_label(argnames, i: int, path) -> str:
    return _label(argnames, i) + jax.tree_util.keystr(tuple(path))


def _scalar(value, name: str):
    value = jnp.asarray(value)
    if value.shape != ():
        raise TypeError(
            f"{name}: the objective must return a scalar, got shape {value.shape}; "
            f"with_grad bridges gradients of scalar objectives (sum or trace it first)"
        )
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        raise TypeError(f"{name}: the objective must return a floating scalar, got {value.dtype}")
    return value


def _flat_gradients(grads, values: tuple, nums: tuple[int, ...], single: bool, argnames, name):
    """Check the hand-written gradient's structure and shapes; flatten it per argument.

    Returns ``{arg index: list of leaves cast to the primal leaves' dtypes}``.
    """
    if single:
        grads = (grads,)
    elif not isinstance(grads, tuple | list) or len(grads) != len(nums):
        got = f"a {type(grads).__name__}" + (
            f" of length {len(grads)}" if isinstance(grads, tuple | list) else ""
        )
        raise TypeError(
            f"{name}: with argnums={nums} the gradient must return a tuple of {len(nums)} "
            f"gradients (one per differentiated argument, in order), got {got}"
        )
    out = {}
    for i, gi in zip(nums, grads, strict=True):
        primal_tree = jax.tree.structure(values[i])
        grad_tree = jax.tree.structure(gi)
        if primal_tree != grad_tree:
            raise TypeError(
                f"{name}: the gradient for {_label(argnames, i)} has pytree structure "
                f"{grad_tree}, expected {primal_tree} (the structure of the argument)"
            )
        leaves = []
        for (path, p), g in zip(
            jax.tree_util.tree_flatten_with_path(values[i])[0],
            jax.tree.leaves(gi),
            strict=True,
        ):
            p_shape, g_shape = jnp.shape(p), jnp.shape(g)
            if p_shape != g_shape:
                hint = ""
                if len(p_shape) == 2 and g_shape == p_shape[::-1]:
                    hint = " (the transposed shape: a transposed gradient?)"
                raise TypeError(
                    f"{name}: the gradient for {_leaf_label(argnames, i, path)} has shape "
                    f"{g_shape}, expected {p_shape}{hint}"
                )
            leaves.append(jnp.asarray(g).astype(jnp.result_type(p)) if _is_float(p) else None)
        out[i] = leaves
    return out


def with_grad(
    objective: Callable[..., jax.Array],
    gradient: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    *,
    check: str | None = None,
    on_mismatch: Literal["raise", "warn", "record"] | Callable = "raise",
    rtol: float | None = None,
    atol: float | None = None,
    uncovered: Literal["autodiff", "error"] = "autodiff",
    argnames: Sequence[str] | None = None,
    name: str | None = None,
    hvp: Callable[..., Any] | None = None,
) -> Bridged:
    """``objective`` whose reverse-mode derivative is the hand-written ``gradient``.

    The rule is ``vjp(g) = g * gradient(*args)`` for the arguments in ``argnums`` (``g`` the
    cotangent of the scalar output; under ``vmap`` one per example): exactly the chain rule,
    so ``jax.grad`` of ``2 f(x) + h(f(x))`` is ``(2 + h'(f(x))) * gradient(x)``.

    Args:
        objective: scalar function of positional arguments (arrays or pytrees of arrays).
            Non-array settings are closed over (``functools.partial``) before bridging.
        gradient: function of the same arguments.  For an int ``argnums`` it returns the
            gradient w.r.t. that argument (same pytree structure and shapes); for a tuple it
            returns a tuple with one such gradient per entry, in order.
        argnums: the argument(s) ``gradient`` covers.
        check: shadow mode.  ``None`` (default): off, the compiled program is exactly a plain
            ``jax.custom_vjp``.  ``"first"``: compare with autodiff on the first backward pass
            only.  ``"every:N"``: on the 1st, (N+1)th, (2N+1)th ... backward pass, counting
            executions (not traces) of this function's backward rule.
        on_mismatch: what a shadow mismatch does: ``"raise"`` a ``GradientMismatchError`` from
            the host callback (inside ``jit`` XLA re-raises it as a ``JaxRuntimeError`` whose
            message carries the report), ``"warn"`` with ``GradientMismatchWarning``,
            ``"record"`` only, or a callable receiving the ``ShadowMismatch``.  Every mismatch
            is also appended to ``f.shadow.mismatches``.
        rtol: shadow comparison relative tolerance; default per dtype (``tracegrad.tolerances``).
        atol: shadow comparison absolute tolerance; default per dtype.
        uncovered: what to do when autodiff needs the cotangent of an argument ``gradient``
            does not cover: ``"autodiff"`` (default) uses ``jax.vjp`` of ``objective`` for it;
            ``"error"`` raises ``ValueError`` at trace time.
        argnames: names of the arguments for messages (default: the objective's signature).
        name: name for messages (default: the objective's ``__name__``).
        hvp: optional hand-written Hessian-vector product ``hvp(*args, v)`` (``v`` and the
            result shaped like ``args[argnums]``; an int ``argnums`` only).  The gradient's
            derivative along ``v`` in that argument then runs it; derivatives through the
            other arguments use ``jax.jvp`` of ``gradient``.

    Returns:
        A ``Bridged`` callable with the objective's signature (positional; keywords are bound
        to positions).  Attributes: ``objective``, ``gradient``, ``argnums`` and ``shadow``
        (the ``Shadow`` monitor with ``calls``, ``checked``, ``mismatches`` and ``reset()``,
        or ``None`` when ``check`` is off).

    Raises:
        TypeError: non-callable objective or gradient, bad ``argnums``; when called, a
            non-scalar objective or a gradient of the wrong structure or shape.
        ValueError: unknown ``check`` / ``on_mismatch`` / ``uncovered``; ``hvp`` with a tuple
            ``argnums``.
    """
    if not callable(objective):
        raise TypeError(f"the objective must be callable, got {type(objective).__name__}")
    if not callable(gradient):
        raise TypeError(f"the gradient must be callable, got {type(gradient).__name__}")
    nums_spec, single = _normalize_argnums(argnums)
    raw_gradient = gradient
    if hvp is not None:
        if not callable(hvp):
            raise TypeError(f"hvp must be callable, got {type(hvp).__name__}")
        if not single:
            raise ValueError(f"hvp= needs a single int argnums, got argnums={argnums!r}")
        gradient = _gradient_with_hvp(gradient, hvp, nums_spec[0])
    if uncovered not in ("autodiff", "error"):
        raise ValueError(f"uncovered must be 'autodiff' or 'error', got {uncovered!r}")
    label: str = name or getattr(objective, "__name__", None) or "objective"
    names = tuple(argnames) if argnames is not None else _positional_names(objective)
    shadow = _shadow.make_shadow(check, on_mismatch, rtol=rtol, atol=atol, name=label)

    def primal(*args):
        return _scalar(objective(*args), label)

    bridged = jax.custom_vjp(primal)

    def fwd(*primals):
        values = jax.tree.map(lambda p: p.value, primals, is_leaf=_is_primal)
        flags = jax.tree.map(lambda p: bool(p.perturbed), primals, is_leaf=_is_primal)
        nums = _resolve(nums_spec, len(values), label)
        if uncovered == "error":
            for i, fl in enumerate(flags):
                if i not in nums and any(jax.tree.leaves(fl)):
                    raise ValueError(
                        f"{label}: autodiff needs the derivative w.r.t. {_label(names, i)}, "
                        f"which the hand-written gradient does not cover (argnums={nums_spec}); "
                        f"cover it in argnums or pass uncovered='autodiff'"
                    )
        return primal(*values), (values, _Static(tuple(jax.tree.leaves(flags))))

    def bwd(res, g):
        values, static = res
        flags = static.value
        n_args = len(values)
        if isinstance(g, SymbolicZero):
            return tuple(jax.tree.map(lambda _: None, v) for v in values)
        nums = _resolve(nums_spec, n_args, label)
        leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(values)
        arg_of = [path[0].idx for path, _ in leaves_with_path]
        leaves = [leaf for _, leaf in leaves_with_path]
        cot: list = [None] * len(leaves)

        covered = [k for k, i in enumerate(arg_of) if i in nums and flags[k]]
        if covered:
            flat = _flat_gradients(gradient(*values), values, nums, single, names, label)
            cand = {k: flat[arg_of[k]][k - arg_of.index(arg_of[k])] for k in covered}
            covered = [k for k in covered if cand[k] is not None]
            if shadow is not None and covered:
                labels = [
                    _leaf_label(names, arg_of[k], leaves_with_path[k][0][1:]) for k in covered
                ]
                shadow.audit(
                    [cand[k] for k in covered],
                    lambda ops: _autodiff(objective, ops, treedef, covered, None),
                    leaves,
                    labels,
                )
            for k in covered:
                cot[k] = (g * cand[k]).astype(cand[k].dtype)

        others = [k for k, i in enumerate(arg_of) if i not in nums and flags[k]]
        others = [k for k in others if _is_float(leaves[k])]
        if others:
            for k, c in zip(others, _autodiff(objective, leaves, treedef, others, g), strict=True):
                cot[k] = c
        return tuple(jax.tree.unflatten(treedef, cot))

    bridged.defvjp(fwd, bwd, symbolic_zeros=True)

    return Bridged(objective, raw_gradient, argnums, shadow, bridged, nums_spec, label, hvp=hvp)


class Bridged:
    """What ``with_grad`` returns: the objective, with the hand-written gradient as its vjp.

    Call it like the objective (positional arguments; keywords are bound to positions).  It
    carries what it was built from, for inspection.

    Attributes:
        objective: the objective function.
        gradient: the hand-written gradient.
        argnums: the argument(s) ``gradient`` covers, as given.
        hvp: the hand-written Hessian-vector product, or ``None``.
        shadow: the ``Shadow`` monitor (``calls``, ``checked``, ``mismatches``, ``reset()``)
            or ``None`` when shadow checking is off.
    """

    def __init__(
        self,
        objective: Callable[..., jax.Array],
        gradient: Callable[..., Any],
        argnums: int | Sequence[int],
        shadow: _shadow.Shadow | None,
        bridged: Callable[..., jax.Array],
        nums_spec: Any,
        label: str,
        hvp: Callable[..., Any] | None = None,
    ) -> None:
        self.objective = objective
        self.gradient = gradient
        self.hvp = hvp
        self.argnums = argnums
        self.shadow = shadow
        self._bridged = bridged
        self._nums_spec = nums_spec
        self._label = label
        functools.update_wrapper(self, objective)  # __name__, __doc__, __wrapped__

    def __call__(self, *args: Any, **kwargs: Any) -> jax.Array:
        if kwargs:
            args = _bind(self.objective, args, kwargs, self._label)
        _resolve(self._nums_spec, len(args), self._label)
        return self._bridged(*args)

    def __repr__(self) -> str:
        return f"<tracegrad.with_grad of {self._label}>"


def _gradient_with_hvp(gradient: Callable, hvp: Callable, argnum: int) -> Callable:
    """``gradient`` as a ``jax.custom_jvp`` whose tangent in ``args[argnum]`` is ``hvp``.

    Tangents of the other arguments (a data matrix that itself depends on parameters) go
    through ``jax.jvp`` of ``gradient`` restricted to them; unperturbed arguments cost nothing
    (symbolic zeros).
    """
    wrapped = jax.custom_jvp(gradient)

    def rule(primals, tangents):
        n = len(primals)
        i = argnum % n
        out = wrapped(*primals)
        tan = jnp.zeros_like(out)
        if not isinstance(tangents[i], SymbolicZero):
            tan = tan + jnp.asarray(hvp(*primals, tangents[i])).astype(out.dtype)
        others = [k for k in range(n) if k != i and not isinstance(tangents[k], SymbolicZero)]
        if others:

            def restricted(*sel):
                full = list(primals)
                for k, v in zip(others, sel, strict=True):
                    full[k] = v
                return gradient(*full)

            _, t_other = jax.jvp(
                restricted,
                tuple(primals[k] for k in others),
                tuple(tangents[k] for k in others),
            )
            tan = tan + t_other
        return out, tan

    wrapped.defjvp(rule, symbolic_zeros=True)
    functools.update_wrapper(wrapped, gradient)
    return wrapped


def _autodiff(objective, leaves: list, treedef, selected: list[int], g) -> list:
    """Reverse-mode derivative of ``objective`` w.r.t. the ``selected`` flat leaves.

    With ``g=None`` the plain gradient (the shadow's reference), else the vjp with cotangent
    ``g`` (the fallback for arguments the hand-written gradient does not cover).
    """

    def restricted(*sel):
        full = list(leaves)
        for k, v in zip(selected, sel, strict=True):
            full[k] = v
        return objective(*jax.tree.unflatten(treedef, full))

    out, vjp = jax.vjp(restricted, *[leaves[k] for k in selected])
    cotangent = jnp.ones_like(out) if g is None else jnp.asarray(g, out.dtype)
    return list(vjp(cotangent))


def _bind(objective, args: tuple, kwargs: dict, name: str) -> tuple:
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: keyword arguments need an objective with an inspectable signature; "
            f"pass the arguments by position"
        ) from None
    bound = sig.bind(*args, **kwargs)
    if bound.kwargs:
        bound.apply_defaults()
    if bound.kwargs:
        raise TypeError(
            f"{name}: keyword-only arguments ({', '.join(bound.kwargs)}) cannot be bridged; "
            f"close over them with functools.partial before calling with_grad"
        )
    return tuple(bound.args)
