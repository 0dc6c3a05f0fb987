"""``check_hvp`` / ``check_hessian``: hand-written second derivatives against three references.

A Hessian-vector product ``hvp(*args, v)`` of a scalar ``f`` w.r.t. ``x = args[argnum]`` is
compared, along a few random directions ``v``, with

* ``fwd_rev``: forward over reverse, ``jax.jvp(jax.grad(f), (x,), (v,))`` in the arguments'
  dtype;
* ``rev_rev``: reverse over reverse, ``jax.grad(lambda x: <jax.grad(f)(x), v>)``, same dtype;
* ``fd64``: fourth-order central differences of the float64 gradient along ``v``,
  ``[8 (g(x + t v) - g(x - t v)) - (g(x + 2t v) - g(x - 2t v))] / 12t``, whatever the input
  dtype (no autodiff of second order at all);

each normwise, ``max|c - r| <= atol + rtol max|r|`` over the stacked directions, with the
dtype's tolerances (``tracegrad.tolerances``; ``max(rtol, 1e-6)`` against ``fd64``).  The
candidate is also held to three properties every Hessian-vector product has, whatever f is:

* linearity in v, ``H(a u + b w) = a H u + b H w``;
* symmetry, ``<u, H w> = <H u, w>`` (a Hessian of a twice continuously differentiable f is
  symmetric, Schwarz's theorem);
* the Taylor remainder ``r(t) = f(x + t v) - f(x) - t <g, v> - t^2/2 <v, H v>`` is ``O(t^3)``:
  over the steps ``t, t/2, t/4, ...`` it shrinks by 8 per halving (order 3) where a wrong
  ``H v`` leaves a ``t^2`` term (order 2); the check of ROL, PETSc and Manopt.  In float64;
  a remainder at rounding level (f quadratic along v) passes.

When something fails, the diagnosis (``diagnosis/hvp.py``) names the slip: a factor or the
sign, the direction transposed, a missing symmetrisation, a dropped cross term.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._utils import require_finite
from .diagnosis import hvp as hvp_diagnosis
from .references import (
    TRACING_ERRORS,
    arg_label,
    as_f64,
    evaluate,
    normwise,
    random_directions,
    reference_jit,
    replace_arg,
    to_device,
    upcast,
    x64_on,
)
from .report import HVPReport, PropertyResult, ReferenceResult
from .tolerances import FD_RTOL_FLOOR, PATTERN_TOL_FACTOR, tolerances

_TAYLOR_MIN_ORDER = 2.5
_TAYLOR_STEPS = 5
_FD_REL_STEP = 1e-3
_DENSE_REFERENCE_MAX = 4096


# ---------------------------------------------------------------------------------------------
# references (compiled once per objective and argnum)


def _second_order_body(f: Callable, argnum: int, directions: jax.Array, *args):
    x = args[argnum]

    def grad(x):
        return jax.grad(f, argnums=argnum)(*replace_arg(args, argnum, x))

    def fwd_rev(v):
        return jax.jvp(grad, (x,), (v,))[1]

    def rev_rev(v):
        return jax.grad(lambda x: jnp.vdot(grad(x), v))(x)

    value = f(*args)
    return value, grad(x), jax.lax.map(fwd_rev, directions), jax.lax.map(rev_rev, directions)


@reference_jit(static_argnums=(0, 1))
def _second_order(f: Callable, argnum: int, directions: jax.Array, *args):
    """Value, gradient, forward-over-reverse and reverse-over-reverse products, one program."""
    return _second_order_body(f, argnum, directions, *args)


def _fd_hvp_body(f: Callable, argnum: int, directions: jax.Array, *args):
    """Central differences of the gradient along each direction (call in float64)."""
    x = args[argnum]
    x_rms = jnp.sqrt(jnp.mean(x * x))
    x_scale = jnp.where(x_rms > 0, x_rms, 1.0)

    def grad(x):
        return jax.grad(f, argnums=argnum)(*replace_arg(args, argnum, x))

    def one(v):
        v_rms = jnp.sqrt(jnp.mean(v * v))
        t = _FD_REL_STEP * x_scale / jnp.where(v_rms > 0, v_rms, 1.0)
        t = (x_scale + t) - x_scale  # a representable step

        def at(s):
            return grad(x + (s * t) * v)

        return (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * t)

    return jax.lax.map(one, directions)


def _float64_refs_body(f: Callable, argnum: int, directions: jax.Array, ts: jax.Array, *args):
    """The fd64 products, and for the Taylor check ``f(x)``, ``<grad f(x), v>`` and
    ``f(x + t v)`` for each step ``t`` along the first direction (in float64)."""
    x = args[argnum]
    v = directions[0]
    value, g = jax.value_and_grad(f, argnums=argnum)(*args)
    along = jax.lax.map(lambda t: f(*replace_arg(args, argnum, x + t * v)), ts)
    return _fd_hvp_body(f, argnum, directions, *args), value, jnp.vdot(g, v), along


@reference_jit(static_argnums=(0, 1, 2, 3))
def _references(
    f: Callable, argnum: int, autodiff: bool, float64: bool, directions, ts, *args
) -> dict[str, jax.Array]:
    """Every reference of one check in one compiled program: ``autodiff``, the value,
    gradient, forward-over-reverse and reverse-over-reverse products in the arguments' dtype;
    ``float64``, the ``_float64_refs_body`` outputs at the exactly upcast arguments (traced
    with x64 on).  ``check_hvp`` calls it once with x64 on, twice with it off (as
    ``check_grad``'s ``_references``)."""
    out: dict[str, jax.Array] = {}
    if autodiff:
        out["value"], out["g"], out["fwd"], out["rev"] = _second_order_body(
            f, argnum, directions, *args
        )
    if float64:
        args64 = tuple(upcast(a) for a in args)
        out["fd"], out["t_value"], out["t_gv"], out["t_along"] = _float64_refs_body(
            f, argnum, directions.astype(jnp.float64), ts.astype(jnp.float64), *args64
        )
    return out


@reference_jit(static_argnums=(0, 1))
def _dense_hessian(f: Callable, argnum: int, *args):
    return jax.hessian(f, argnums=argnum)(*args)


@reference_jit(static_argnums=(0, 1))
def _dense_hessian_rev(f: Callable, argnum: int, *args):
    return jax.jacrev(jax.grad(f, argnums=argnum))(*args)


# ---------------------------------------------------------------------------------------------
# validation


def _check_tolerance(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or None, got {type(value).__name__}")
    if not math.isfinite(float(value)) or float(value) < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")


def _validate(f, candidate, args, argnum, n_directions, rtol, atol, key, argnames, what):
    if not callable(f):
        raise TypeError(f"f (the objective) must be callable, got {type(f).__name__}")
    if not callable(candidate):
        raise TypeError(f"{what} must be callable, got {type(candidate).__name__}")
    if not args:
        raise ValueError("no arguments given: pass the point to check at as *args")
    if isinstance(argnum, bool) or not isinstance(argnum, numbers.Integral):
        raise TypeError(f"argnum must be an int, got {type(argnum).__name__}")
    argnum = int(argnum)
    if not -len(args) <= argnum < len(args):
        raise ValueError(f"argnum={argnum} is out of range for {len(args)} arguments")
    argnum %= len(args)
    if isinstance(n_directions, bool) or not isinstance(n_directions, numbers.Integral):
        raise TypeError(f"n_directions must be an int, got {type(n_directions).__name__}")
    if n_directions < 2:
        raise ValueError(
            f"n_directions must be >= 2 (linearity and symmetry need two directions), "
            f"got {n_directions}"
        )
    _check_tolerance("rtol", rtol)
    _check_tolerance("atol", atol)
    if key is not None and not isinstance(key, numbers.Integral | jax.Array):
        raise TypeError(f"key must be an int or a JAX PRNG key, got {type(key).__name__}")
    if argnames is not None and (
        isinstance(argnames, str) or not all(isinstance(a, str) for a in argnames)
    ):
        raise TypeError("argnames must be a sequence of strings")
    args = tuple(to_device(a) for a in args)
    for i, a in enumerate(args):
        require_finite(arg_label(argnames, i), a)
    x = args[argnum]
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"the differentiated {arg_label(argnames, argnum)} must be real floating, got {x.dtype}"
        )
    if x.size == 0:
        raise ValueError(
            f"the differentiated {arg_label(argnames, argnum)} has zero size (shape {x.shape}): "
            f"there is nothing to check"
        )
    out = jax.eval_shape(f, *args)
    if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"f must return a real floating scalar, got "
            f"{getattr(out, 'shape', type(out))} {getattr(out, 'dtype', '')}; Hessians are "
            f"defined for scalar objectives"
        )
    return args, argnum


def _as_array(value, what: str, shape) -> jax.Array:
    """The candidate's output as an array, or a ``TypeError`` naming ``what``."""
    if value is None or isinstance(value, str | bytes | dict | list | tuple):
        raise TypeError(
            f"{what} must return an array shaped like the argument {tuple(shape)}, got "
            f"{type(value).__name__}"
        )
    arr = jnp.asarray(value)
    if not jnp.issubdtype(arr.dtype, jnp.inexact) and not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"{what} must return a numeric array, got dtype {arr.dtype}")
    return arr


# ---------------------------------------------------------------------------------------------
# the check


def _apply_vmapped(hvp: Callable, *a):
    *rest, V = a
    return jax.vmap(lambda v: hvp(*rest, v))(V)


_apply_jitted = jax.jit(_apply_vmapped, static_argnums=0)


def _products(hvp: Callable, args: tuple, directions) -> jax.Array:
    """The candidate applied to each direction (vmapped and compiled when it traces).

    The compiled program is cached by the candidate itself (a static argument), so checking
    the same ``hvp`` again at new values of the same shapes compiles nothing.
    """
    try:
        hash(hvp)
    except TypeError:  # an unhashable callable: a fresh closure, compiled per call
        cached = None
    else:
        cached = hvp

    def apply(*a):
        return _apply_vmapped(hvp, *a)

    try:
        if cached is None:
            return evaluate(apply, *args, directions)
        try:
            return _apply_jitted(cached, *args, directions)
        except TRACING_ERRORS:
            return apply(*args, directions)
    except Exception:  # noqa: BLE001 - not vmappable (NumPy inside): one call per direction
        return jnp.stack([jnp.asarray(hvp(*args, v)) for v in directions])


@functools.partial(jax.jit, static_argnums=2)
def _dense_products(H: jax.Array, V: jax.Array, shape: tuple) -> jax.Array:
    """A dense Hessian candidate ``H`` (n x n) applied to each direction of ``V``, one program
    cached by shapes (a closure over ``H`` would compile anew for every check)."""
    return jax.vmap(lambda v: (H @ v.reshape(-1).astype(H.dtype)).reshape(shape))(V)


def _taylor_steps(x, v) -> np.ndarray:
    x = np.asarray(x, np.float64)
    v = np.asarray(v, np.float64)
    x_rms = float(np.sqrt(np.mean(x * x))) or 1.0
    v_rms = float(np.sqrt(np.mean(v * v))) or 1.0
    return 0.05 * x_rms / v_rms * 0.5 ** np.arange(_TAYLOR_STEPS)


def _taylor(ts, value, gv, along, v, cv, rtol_c) -> PropertyResult:
    """Order of the second-order Taylor remainder along ``v`` (float64)."""
    v64 = np.asarray(v, np.float64)
    value, gv, along = float(value), float(gv), np.asarray(along, np.float64)
    vhv = float(np.vdot(v64.ravel(), np.asarray(cv, np.float64).ravel()))
    rem = np.abs(along - value - ts * gv - 0.5 * ts**2 * vhv)
    eps = np.finfo(np.float64).eps
    noise = 64 * eps * (abs(value) + np.abs(along) + np.abs(ts * gv) + 0.5 * ts**2 * abs(vhv))
    noise = noise + 0.5 * ts**2 * abs(vhv) * rtol_c  # the candidate's own rounding
    significant = rem > 4 * noise
    orders = [
        math.log2(rem[k] / rem[k + 1])
        for k in range(_TAYLOR_STEPS - 1)
        if significant[k] and significant[k + 1]
    ]
    if not orders:
        return PropertyResult(
            "taylor",
            float("nan"),
            _TAYLOR_MIN_ORDER,
            True,
            "remainder at rounding level over every step (f is quadratic along v)",
        )
    order = float(np.median(orders))
    return PropertyResult(
        "taylor",
        order,
        _TAYLOR_MIN_ORDER,
        order >= _TAYLOR_MIN_ORDER,
        f"order of f(x+tv) - f(x) - t<g,v> - t^2/2 <v,Hv> over t = {ts[0]:.2g}/2^k, k < "
        f"{_TAYLOR_STEPS}, float64 (3 for a right H v, 2 for a wrong one)",
    )


def _check(
    f,
    products,
    args,
    argnum,
    *,
    rtol,
    atol,
    key,
    n_directions,
    argnames,
    kind,
    what,
    dense_candidate=None,
) -> HVPReport:
    x = args[argnum]
    dtype = x.dtype
    shape = tuple(x.shape)
    rtol_, atol_ = tolerances(dtype, rtol, atol)
    argname = argnames[argnum] if argnames is not None and argnum < len(argnames) else "x"
    directions = random_directions(0 if key is None else key, n_directions, shape, dtype)

    # the candidate along the directions and a linear combination (for the linearity check),
    # in one call; the combination on the host (IEEE rounding as XLA's) where NumPy has the
    # dtype's arithmetic, so that no eager op compiles its own program
    a, b = 0.75, -1.25
    if directions.dtype in (np.float32, np.float64):
        combo = a * directions[0] + b * directions[1]
        stacked = np.concatenate([directions, combo[None]])
    else:
        d = jnp.asarray(directions)
        stacked = jnp.concatenate([d, (a * d[0] + b * d[1])[None]])
    cand_all = np.asarray(_as_array(products(stacked), what, shape))
    cand = cand_all[:-1]
    if cand.shape[1:] != shape or jnp.iscomplexobj(cand):
        bad = (
            f"returns shape {tuple(cand.shape[1:])} where the argument's {shape} belongs"
            if cand.shape[1:] != shape
            else f"returns complex values ({cand.dtype}) for a real objective"
        )
        return HVPReport(
            ok=False,
            kind=kind,
            max_abs_err=float("inf"),
            max_rel_err=float("inf"),
            references={},
            properties={},
            diagnosis=f"{what} {bad}",
            dtype=str(dtype),
            shape=shape,
            candidate_shape=tuple(cand.shape[1:]),
            candidate_dtype=str(cand.dtype),
            rtol=rtol_,
            atol=atol_,
        )
    c_np = np.asarray(cand, np.float64).reshape(n_directions, -1)
    # every reference in one program (two with x64 off: the autodiff part traces in the
    # caller's mode, the float64 part inside jax.enable_x64)
    ts = _taylor_steps(x, directions[0])
    if x64_on():
        out = _references(f, argnum, True, True, directions, ts, *args)
    else:
        out = dict(_references(f, argnum, True, False, directions, ts, *args))
        with jax.enable_x64(True):
            out.update(_references(f, argnum, False, True, directions, ts, *args))
    value, fwd, rev = out["value"], out["fwd"], out["rev"]
    if not np.isfinite(float(value)):
        raise ValueError(f"f is {float(value)} at these arguments; choose arguments in its domain")
    refs: dict[str, ReferenceResult] = {}
    for name, ref, detail in (
        ("fwd_rev", fwd, f"jax.jvp of jax.grad in {dtype}"),
        ("rev_rev", rev, f"jax.grad of <jax.grad, v> in {dtype}"),
    ):
        r = np.asarray(ref, np.float64).reshape(n_directions, -1)
        refs[name] = normwise(name, c_np, r, rtol_, atol_, f"{detail}, {n_directions} dirs")
    fd = np.asarray(out["fd"], np.float64)
    t_value, t_gv, t_along = out["t_value"], out["t_gv"], out["t_along"]
    refs["fd64"] = normwise(
        "fd64",
        c_np,
        fd.reshape(n_directions, -1),
        max(rtol_, FD_RTOL_FLOOR),
        max(atol_, 8 * np.finfo(np.float64).eps),
        "4th-order central differences of the float64 gradient",
    )
    truth_np = np.asarray(fwd, np.float64).reshape(n_directions, -1)
    if dense_candidate is not None:
        refs["dense"] = _dense_reference(f, argnum, args, dense_candidate, rtol_, atol_)

    # properties of the candidate alone
    props: dict[str, PropertyResult] = {}
    c_combo = np.asarray(cand_all[-1], np.float64).ravel()
    expect = a * c_np[0] + b * c_np[1]
    scale = max(float(np.max(np.abs(expect))), float(np.max(np.abs(c_combo))), 1e-300)
    lin = float(np.max(np.abs(c_combo - expect))) / scale
    props["linearity"] = PropertyResult(
        "linearity",
        lin,
        rtol_,
        bool(np.isfinite(lin) and lin <= rtol_ + atol_ / scale),
        "max|H(a u + b w) - a Hu - b Hw| / max|a Hu + b Hw|",
    )
    v_np = np.asarray(directions, np.float64).reshape(n_directions, -1)
    asym = []
    for i in range(n_directions - 1):
        u, w, hu, hw = v_np[i], v_np[i + 1], c_np[i], c_np[i + 1]
        denom = (
            np.linalg.norm(u) * np.linalg.norm(hw) + np.linalg.norm(hu) * np.linalg.norm(w)
        ) or 1e-300
        asym.append(abs(float(u @ hw - hu @ w)) / denom)
    sym = max(asym)
    props["symmetry"] = PropertyResult(
        "symmetry",
        sym,
        rtol_,
        bool(np.isfinite(sym) and sym <= rtol_),
        "|<u, Hw> - <Hu, w>| / (|u||Hw| + |Hu||w|) over consecutive directions",
    )
    props["taylor"] = _taylor(ts, t_value, t_gv, t_along, directions[0], c_np[0], rtol_)

    ok = all(r.ok for r in refs.values()) and all(p.ok for p in props.values())
    if ok:
        diagnosis = "ok"
    else:
        diagnosis = _diagnosis(
            f, products, args, argnum, directions, c_np, truth_np, rtol_, argname, what,
            dense_candidate, refs, props,
        )  # fmt: skip
    return HVPReport(
        ok=ok,
        kind=kind,
        max_abs_err=max(r.max_abs_err for r in refs.values()),
        max_rel_err=max(r.max_rel_err for r in refs.values()),
        references=refs,
        properties=props,
        diagnosis=diagnosis,
        dtype=str(dtype),
        shape=shape,
        candidate_shape=shape,
        candidate_dtype=str(cand.dtype),
        rtol=rtol_,
        atol=atol_,
    )


def _dense_reference(f, argnum, args, C, rtol, atol) -> ReferenceResult:
    """``jax.hessian`` entry by entry against a dense candidate (``check_hessian``)."""
    x = args[argnum]
    n = x.size
    H = np.asarray(_dense_hessian(f, argnum, *args), np.float64).reshape(n, n)
    return normwise(
        "dense", np.asarray(C, np.float64).reshape(n, n), H, rtol, atol,
        f"jax.hessian (forward over reverse), all {n}x{n} entries in {x.dtype}",
    )  # fmt: skip


def _diagnosis(
    f, products, args, argnum, directions, c_np, truth_np, rtol, argname, what, dense, refs, props
) -> str:
    tol = PATTERN_TOL_FACTOR * rtol
    refs_ok = all(r.ok for r in refs.values())
    if refs_ok:
        failed = [p.name for p in props.values() if not p.ok]
        if "linearity" in failed:
            return (
                f"{what} is not linear in v (a term that does not contain v, or a "
                f"v-dependent scale)"
            )
        if "symmetry" in failed:
            return (
                f"{what} agrees with the references along the test directions but is not "
                f"symmetric (a term applies the transposed operator)"
            )
        return "the Taylor remainder is not O(t^3): H v is wrong along some direction"
    x = args[argnum]
    shape = tuple(x.shape)
    n = x.size
    if n <= hvp_diagnosis.DENSE_MAX_SIZE:
        with jax.enable_x64(True):
            args64 = as_f64(args)
            H = np.asarray(_dense_hessian(f, argnum, *args64), np.float64).reshape(n, n)
            try:
                labels, blocks = hvp_diagnosis.appearance_blocks(f, argnum, args64)
            except Exception:  # noqa: BLE001 - the split is a best effort; the rest still works
                labels, blocks = [], None
        if dense is not None:
            C = np.asarray(dense, np.float64).reshape(n, n)
        else:
            basis = np.eye(n, dtype=x.dtype).reshape((n, *shape))
            C = np.asarray(products(basis), np.float64).reshape(n, n).T
        return hvp_diagnosis.diagnose_dense(C, H, shape, tol, blocks, labels, argname)
    HVt = None
    if hvp_diagnosis.transpose_permutation(shape) is not None:
        dirs_t = np.swapaxes(directions, -1, -2)
        HVt = np.asarray(_second_order(f, argnum, dirs_t, *args)[2], np.float64).reshape(
            len(directions), -1
        )
    return hvp_diagnosis.diagnose_directional(c_np, truth_np, HVt, tol, argname)


def check_hvp(
    f: Callable[..., jax.Array],
    hvp: Callable[..., jax.Array],
    *args,
    argnum: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    key: jax.Array | int | None = None,
    n_directions: int = 3,
    argnames: Sequence[str] | None = None,
) -> HVPReport:
    """Check a hand-written Hessian-vector product of scalar ``f`` w.r.t. ``args[argnum]``.

    ``hvp(*args, v)`` must return ``H v``, the Hessian of ``f`` in ``x = args[argnum]``
    applied to a direction ``v`` shaped like ``x`` (for a matrix ``X`` this is the second
    directional derivative ``d/dt grad f(X + t V)`` at ``t = 0``, shaped like ``X``).  The
    references (forward over reverse, reverse over reverse, float64 finite differences of the
    gradient), the property checks (linearity, symmetry, an ``O(t^3)`` Taylor remainder) and
    the diagnosis are described in ``tracegrad._check.hvp``.

    Args:
        f: scalar objective, JAX-traceable.
        hvp: the candidate, ``hvp(*args, v) -> H v``.
        *args: the point at which to check; NaN or Inf in any argument is an error.
        argnum: which argument the Hessian is taken with respect to.
        rtol: normwise relative tolerance; default per dtype (``tracegrad.tolerances``).
        atol: normwise absolute tolerance; default per dtype.
        key: seed (int) or JAX PRNG key for the random directions (default 0).
        n_directions: number of random directions (at least 2).
        argnames: optional names of ``args`` for messages.

    Returns:
        An ``HVPReport``; ``bool(report)`` is ``report.ok``.

    Raises:
        TypeError: a non-callable ``f`` or ``hvp``, a non-integer ``argnum`` or
            ``n_directions``, a non-floating argument, a non-scalar ``f``, an ``hvp`` that
            returns no array.
        ValueError: NaN/Inf arguments, a zero-size argument, an out-of-range ``argnum``,
            ``n_directions < 2``, a negative or non-finite ``rtol``/``atol``.
    """
    args, argnum = _validate(f, hvp, args, argnum, n_directions, rtol, atol, key, argnames, "hvp")
    return _check(
        f, lambda V: _products(hvp, args, V), args, argnum, rtol=rtol, atol=atol, key=key,
        n_directions=n_directions, argnames=argnames, kind="HVP", what="hvp",
    )  # fmt: skip


def check_hessian(
    f: Callable[..., jax.Array],
    hessian: Callable[..., jax.Array] | jax.Array,
    *args,
    argnum: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    key: jax.Array | int | None = None,
    n_directions: int = 3,
    argnames: Sequence[str] | None = None,
) -> HVPReport:
    """Check a hand-written dense Hessian of scalar ``f`` w.r.t. ``x = args[argnum]``.

    ``hessian(*args)`` (or the array itself) has shape ``x.shape + x.shape``; entry
    ``[i..., j...]`` is ``d^2 f / dx_i dx_j``.  It is checked as the Hessian-vector product
    ``v -> tensordot(H, v)`` by ``check_hvp`` (three references, three properties, the
    diagnosis) and, up to 4096 entries in ``x``, entry by entry against ``jax.hessian``
    (the ``dense`` reference).

    Args:
        f: scalar objective, JAX-traceable.
        hessian: the candidate: a function of ``args`` or the array.
        *args: the point at which to check, as for ``check_hvp``.
        argnum: which argument the Hessian is taken with respect to.
        rtol: normwise relative tolerance; default per dtype.
        atol: normwise absolute tolerance; default per dtype.
        key: seed (int) or JAX PRNG key for the random directions (default 0).
        n_directions: number of random directions (at least 2).
        argnames: optional names of ``args`` for messages.

    Returns:
        An ``HVPReport`` with ``kind="Hessian"``.

    Raises:
        TypeError, ValueError: as ``check_hvp``; also ``TypeError`` for a candidate that is not
            an array.
    """
    candidate = hessian if callable(hessian) else (lambda *_: hessian)
    args, argnum = _validate(
        f, candidate, args, argnum, n_directions, rtol, atol, key, argnames, "hessian"
    )
    x = args[argnum]
    shape = tuple(x.shape)
    H = _as_array(
        evaluate(candidate, *args) if callable(hessian) else to_device(hessian),
        "hessian",
        shape + shape,
    )
    dtype = x.dtype
    if tuple(H.shape) != shape + shape or jnp.iscomplexobj(H):
        rtol_, atol_ = tolerances(dtype, rtol, atol)
        bad = (
            f"has shape {tuple(H.shape)} where x.shape + x.shape = {shape + shape} belongs"
            if tuple(H.shape) != shape + shape
            else f"is complex ({H.dtype}) for a real objective"
        )
        return HVPReport(
            ok=False, kind="Hessian", max_abs_err=float("inf"), max_rel_err=float("inf"),
            references={}, properties={}, diagnosis=f"the hessian {bad}", dtype=str(dtype),
            shape=shape, candidate_shape=tuple(H.shape), candidate_dtype=str(H.dtype),
            rtol=rtol_, atol=atol_,
        )  # fmt: skip
    n = x.size
    Hm = np.asarray(H).reshape(n, n)
    return _check(
        f, lambda V: _dense_products(Hm, V, shape), args, argnum, rtol=rtol, atol=atol, key=key,
        n_directions=n_directions,
        argnames=argnames, kind="Hessian", what="hessian",
        dense_candidate=Hm if n <= _DENSE_REFERENCE_MAX else None,
    )  # fmt: skip


def assert_hvp_close(f, hvp, *args, **kwargs) -> HVPReport:
    """``check_hvp`` for test suites: raise ``AssertionError`` carrying the report on failure."""
    report = check_hvp(f, hvp, *args, **kwargs)
    if not report.ok:
        raise AssertionError(f"hand-written Hessian-vector product disagrees\n{report}")
    return report


def assert_hessian_close(f, hessian, *args, **kwargs) -> HVPReport:
    """``check_hessian`` for test suites: raise ``AssertionError`` carrying the report."""
    report = check_hessian(f, hessian, *args, **kwargs)
    if not report.ok:
        raise AssertionError(f"hand-written Hessian disagrees\n{report}")
    return report
