"""``check_grad``: compare any gradient with reverse mode, forward mode and finite differences."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _fd
from ._diagnose import diagnose
from ._reference import reference_jit
from ._report import GradReport, ReferenceResult
from ._tolerances import FD_RTOL_FLOOR, tolerances
from ._validate import require_finite

FD_FULL_MAX_SIZE = 4096
"""Up to this many entries the finite-difference reference is the full gradient; above it,
directional derivatives along the same random directions as the forward-mode reference."""

_PATTERN_TOL_FACTOR = 20.0

TRACING_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)
"""What a function that cannot be traced (NumPy inside, Python control flow on values) raises."""


def _replace(args: tuple, argnum: int, value) -> tuple:
    return args[:argnum] + (value,) + args[argnum + 1 :]


@reference_jit(static_argnums=(0, 1))
def _reverse(f: Callable, argnum: int, *args) -> jax.Array:
    return jax.grad(f, argnums=argnum)(*args)


@reference_jit(static_argnums=(0, 1))
def _autodiff(f: Callable, argnum: int, directions: jax.Array, *args):
    """Value, reverse-mode gradient and the directional derivatives along ``directions``
    (forward mode), in one compiled program."""
    value, g = jax.value_and_grad(f, argnums=argnum)(*args)

    def along(v):
        return jax.jvp(lambda x: f(*_replace(args, argnum, x)), (args[argnum],), (v,))[1]

    return value, g, jax.lax.map(along, directions)


def _normwise(name, c, g, rtol, atol, detail) -> ReferenceResult:
    """``max|c - g| <= atol + rtol * max|g|`` on host float64 arrays."""
    abs_err = float(np.max(np.abs(c - g))) if c.size else 0.0
    scale = float(np.max(np.abs(g))) if g.size else 0.0
    if scale > 0:
        rel = abs_err / scale
    else:
        rel = 0.0 if abs_err == 0 else float("inf")
    ok = bool(np.isfinite(abs_err) and abs_err <= atol + rtol * scale)
    return ReferenceResult(name, abs_err, rel, rtol, ok, detail)


@functools.partial(jax.jit, static_argnums=0)
def _call_jitted(fn: Callable, *args):
    return fn(*args)


def evaluate(fn: Callable, *args):
    """``fn(*args)``, compiled as one program when ``fn`` is traceable, else called eagerly.

    One compilation of the whole function is much cheaper than op-by-op dispatch of each of its
    primitives; a gradient written with NumPy (not traceable) still works, eagerly.
    """
    try:
        return _call_jitted(fn, *args)
    except (
        jax.errors.ConcretizationTypeError,
        jax.errors.TracerArrayConversionError,
        jax.errors.TracerBoolConversionError,
        jax.errors.TracerIntegerConversionError,
    ):
        return fn(*args)


def _directions(key, n: int, shape, dtype) -> jax.Array:
    """``n`` standard-normal directions, drawn with NumPy from ``key`` (an int or a JAX key).

    Drawing on the host keeps the random-bit generator out of the compiled reference program,
    which roughly halves its compile time; the directions only need to be generic.
    """
    if not isinstance(key, int | np.integer):
        key = int(np.asarray(jax.random.key_data(key)).ravel()[-1])
    rng = np.random.default_rng(key)
    return jnp.asarray(rng.standard_normal((n, *shape)), dtype)


def _as_f64(args: Sequence) -> tuple:
    return tuple(
        jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.result_type(a), jnp.floating) else a
        for a in args
    )


def _label(argnames: Sequence[str] | None, i: int) -> str:
    if argnames is not None and i < len(argnames):
        return f"argument {i} ({argnames[i]})"
    return f"argument {i}"


def _validate(f, args, argnum, argnames) -> tuple:
    if not callable(f):
        raise TypeError(f"the objective must be callable, got {type(f).__name__}")
    if not -len(args) <= argnum < len(args):
        raise ValueError(f"argnum={argnum} is out of range for {len(args)} arguments")
    args = tuple(jnp.asarray(a) for a in args)
    for i, a in enumerate(args):
        require_finite(_label(argnames, i), a)
    x = args[argnum]
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"the differentiated {_label(argnames, argnum % len(args))} must be floating, "
            f"got {x.dtype}"
        )
    out = jax.eval_shape(f, *args)
    if getattr(out, "shape", None) != ():
        raise TypeError(
            f"the objective must return a scalar, got {getattr(out, 'shape', type(out))}; "
            f"gradients are defined for scalar objectives (sum or trace it first)"
        )
    return args


def check_grad(
    f: Callable[..., jax.Array],
    grad: Callable[..., jax.Array] | jax.Array,
    *args,
    argnum: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    key: jax.Array | int | None = None,
    n_directions: int = 4,
    terms: Callable[..., Mapping[str, jax.Array]] | Mapping[str, jax.Array] | None = None,
    argnames: Sequence[str] | None = None,
) -> GradReport:
    """Check a hand-derived gradient of scalar ``f`` against three independent references.

    The references:

    * ``reverse``: ``jax.grad(f, argnum)`` in the arguments' own dtype; compared normwise,
      ``max|c - g| <= atol + rtol * max|g|``.
    * ``forward``: directional derivatives ``jax.jvp`` along ``n_directions`` random normal
      directions ``v``, compared with ``<c, v>``; relative error
      ``|<c, v> - jvp| / (||g||_2 ||v||_2)`` (the Cauchy-Schwarz scale of the projection).
    * ``fd64``: fourth-order central finite differences evaluated in float64 whatever the input
      dtype (inputs are upcast exactly), so a float32 candidate is measured against the true
      gradient at its own inputs; full gradient up to ``FD_FULL_MAX_SIZE`` entries, directional
      beyond.  Held to ``max(rtol, 1e-6)``, the floor covering the stencil's own error.

    Default tolerances come from ``tracegrad.default_rtol``: the square root of the dtype's
    machine epsilon (2.4e-4 for float32, 1.1e-8 for float64) -- far above the rounding
    differences between two correct evaluation orders on well-conditioned inputs, far below the
    O(1) error of any structural mistake.  At a stationary point the true gradient is ~0 and a
    relative test is meaningless: pass an ``atol`` scaled to the problem.

    When a reference disagrees, ``diagnosis`` names the likely mistake (transposed, scaled by a
    constant, sign flipped, only the symmetric part, a missing or doubled per-appearance term
    when ``terms`` is given, wrong shape), found against float64 autodiff.

    Args:
        f: scalar objective, a JAX-traceable function of ``args``.
        grad: the candidate: a function of ``args`` returning the gradient w.r.t.
            ``args[argnum]``, or the gradient array itself.
        *args: the point at which to check.  NaN or Inf in any argument is an error.
        argnum: which argument the gradient is taken with respect to.
        rtol: normwise relative tolerance; default per dtype (``tracegrad.tolerances``).
        atol: normwise absolute tolerance; default per dtype.
        key: seed (int) or JAX PRNG key for the random directions (default 0).
        n_directions: number of forward-mode (and large-input finite-difference) directions.
        terms: optional per-appearance terms summing to the true gradient (a function of
            ``args`` or a mapping), used only to diagnose a missing or doubled term.
        argnames: optional names of ``args`` for error messages.

    Returns:
        A ``GradReport``; ``bool(report)`` is ``report.ok``.

    Raises:
        TypeError: non-scalar objective, non-floating differentiated argument.
        ValueError: NaN/Inf arguments, an objective that is not finite at ``args``, bad argnum.
    """
    args = _validate(f, args, argnum, argnames)
    argnum = argnum % len(args)
    x = args[argnum]
    dtype = x.dtype
    rtol_, atol_ = tolerances(dtype, rtol, atol)
    candidate = jnp.asarray(evaluate(grad, *args) if callable(grad) else grad)
    if key is None:
        key = 0
    shape = tuple(x.shape)

    if candidate.shape != x.shape:
        with jax.enable_x64(True):
            truth = np.asarray(_reverse(f, argnum, *_as_f64(args)))
        return GradReport(
            ok=False,
            max_abs_err=float("inf"),
            max_rel_err=float("inf"),
            references={},
            diagnosis=diagnose(candidate, truth, tol=_PATTERN_TOL_FACTOR * rtol_),
            dtype=str(dtype),
            shape=shape,
            candidate_shape=tuple(candidate.shape),
            candidate_dtype=str(candidate.dtype),
            rtol=rtol_,
            atol=atol_,
        )

    c = candidate.astype(dtype)
    refs: dict[str, ReferenceResult] = {}

    # reverse and forward mode (random directions), same dtype, one compiled program;
    # the error metrics are then computed on the host in float64
    directions = _directions(key, n_directions, x.shape, dtype)
    value, g, jvps = _autodiff(f, argnum, directions, *args)
    if not np.isfinite(float(value)):
        raise ValueError(
            f"the objective is {float(value)} at these arguments; choose arguments in its "
            f"domain (positive where it takes a log, well-conditioned where it inverts)"
        )
    c_np = np.asarray(c, np.float64)
    g_np = np.asarray(g, np.float64)
    v_np = np.asarray(directions, np.float64).reshape(n_directions, -1)
    refs["reverse"] = _normwise("reverse", c_np, g_np, rtol_, atol_, f"jax.grad in {dtype}")

    # forward mode: <c, v> against the directional derivatives
    vnorm = np.linalg.norm(v_np, axis=1)
    gnorm = max(float(np.linalg.norm(g_np)), np.finfo(dtype).tiny)
    f_abs = np.abs(v_np @ c_np.ravel() - np.asarray(jvps, np.float64))
    f_rel = f_abs / (gnorm * vnorm)
    refs["forward"] = ReferenceResult(
        "forward",
        float(f_abs.max()),
        float(f_rel.max()),
        rtol_,
        bool(np.all(f_rel <= rtol_ + atol_ / gnorm)),
        f"jax.jvp along {n_directions} random directions in {dtype}",
    )

    # finite differences in float64 regardless of dtype
    fd_rtol = max(rtol_, FD_RTOL_FLOOR)
    with jax.enable_x64(True):
        args64 = _as_f64(args)
        if x.size <= FD_FULL_MAX_SIZE:
            fd = np.asarray(_fd.fd_gradient(f, argnum, *args64))
            refs["fd64"] = _normwise(
                "fd64",
                c_np,
                fd,
                fd_rtol,
                max(atol_, 8 * np.finfo(np.float64).eps),
                "4th-order central differences in float64, every entry",
            )
        else:
            dirs64 = jnp.asarray(directions, jnp.float64)
            fd = np.asarray(_fd.fd_directional(f, argnum, dirs64, *args64))
            d_abs = np.abs(v_np @ c_np.ravel() - fd)
            d_rel = d_abs / (max(float(np.linalg.norm(c_np)), 1e-300) * vnorm)
            refs["fd64"] = ReferenceResult(
                "fd64",
                float(d_abs.max()),
                float(d_rel.max()),
                fd_rtol,
                bool(np.all(d_rel <= fd_rtol)),
                f"4th-order central differences in float64 along {n_directions} directions",
            )

    ok = all(r.ok for r in refs.values())
    if ok:
        diagnosis = "ok"
    else:
        with jax.enable_x64(True):
            args64 = _as_f64(args)
            truth = np.asarray(_reverse(f, argnum, *args64))
            term_values = None
            if terms is not None:
                term_values = terms(*args64) if callable(terms) else terms
                term_values = {k: np.asarray(v, np.float64) for k, v in term_values.items()}
        diagnosis = diagnose(c, truth, tol=_PATTERN_TOL_FACTOR * rtol_, terms=term_values)
    return GradReport(
        ok=ok,
        max_abs_err=max(r.max_abs_err for r in refs.values()),
        max_rel_err=max(r.max_rel_err for r in refs.values()),
        references=refs,
        diagnosis=diagnosis,
        dtype=str(dtype),
        shape=shape,
        candidate_shape=tuple(candidate.shape),
        candidate_dtype=str(candidate.dtype),
        rtol=rtol_,
        atol=atol_,
    )


def assert_grad_close(
    f: Callable[..., jax.Array],
    grad: Callable[..., jax.Array] | jax.Array,
    *args,
    **kwargs,
) -> GradReport:
    """``check_grad`` for test suites: raise ``AssertionError`` carrying the report on failure.

    Takes exactly the arguments of ``check_grad`` and returns its report when it passes.
    """
    report = check_grad(f, grad, *args, **kwargs)
    if not report.ok:
        raise AssertionError(f"hand-derived gradient disagrees with autodiff\n{report}")
    return report
