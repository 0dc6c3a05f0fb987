"""``check_grad``: compare any gradient with reverse mode, forward mode and finite differences."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._utils import require_finite
from .diagnosis.grad import diagnose
from .diagnosis.terms import appearance_terms
from .references import (
    arg_label,
    as_f64,
    evaluate,
    fd_directional,
    fd_gradient,
    forward_result,
    normwise,
    random_directions,
    reference_jit,
    replace_arg,
    to_device,
    upcast,
    x64_on,
)
from .report import GradReport, ReferenceResult, grad_report
from .tolerances import (
    FD_RTOL_FLOOR,
    NOISE_CAP,
    PATTERN_TOL_FACTOR,
    evidence_rtol,
    tolerances,
    uses_evidence,
)

FD_FULL_MAX_SIZE = 4096
"""Up to this many entries the finite-difference reference is the full gradient; above it,
directional derivatives along the same random directions as the forward-mode reference."""

MAX_DIRECTIONS = 1024
"""Most random directions a check draws (each is an array the size of the argument)."""

_CONSISTENCY_RTOL = 1e-4
"""``jax.grad`` and the float64 finite differences disagreeing by more than this (normwise,
relative) means autodiff cannot be trusted at the point: a kink, or a wrong rule inside f."""


@reference_jit(static_argnums=(0, 1))
def _reverse(f: Callable, argnum: int, *args) -> jax.Array:
    return jax.grad(f, argnums=argnum)(*args)


def _autodiff_body(f: Callable, argnum: int, directions: jax.Array, *args):
    value, g = jax.value_and_grad(f, argnums=argnum)(*args)

    def along(v):
        return jax.jvp(lambda x: f(*replace_arg(args, argnum, x)), (args[argnum],), (v,))[1]

    return value, g, jax.lax.map(along, directions)


@reference_jit(static_argnums=(0, 1))
def _autodiff(f: Callable, argnum: int, directions: jax.Array, *args):
    """Value, reverse-mode gradient and the directional derivatives along ``directions``
    (forward mode), in one compiled program."""
    return _autodiff_body(f, argnum, directions, *args)


@reference_jit(static_argnums=(0, 1, 2, 3, 4))
def _references(
    f: Callable, argnum: int, autodiff: bool, truth64: bool, fd: str | None, directions, *args
) -> dict[str, jax.Array]:
    """Every reference of one check in one compiled program.

    ``autodiff``: the value, ``jax.grad`` and ``jax.jvp`` along ``directions`` in the
    arguments' dtype.  ``truth64``: ``jax.grad`` at the exactly upcast float64 arguments.
    ``fd``: ``"full"`` or ``"directional"`` float64 finite differences (or None).  The float64
    parts need x64 when traced; with x64 on in the caller (float64 arguments always, and test
    suites) one call computes everything, else ``check_grad`` calls this twice: the autodiff
    part in the caller's mode (so that ``f`` traces at float32 as the user runs it), the
    float64 parts inside ``jax.enable_x64(True)``.
    """
    out: dict[str, jax.Array] = {}
    if autodiff:
        out["value"], out["g"], out["jvps"] = _autodiff_body(f, argnum, directions, *args)
    args64 = tuple(upcast(a) for a in args) if truth64 or fd is not None else args
    if truth64:
        out["g64"] = jax.grad(f, argnums=argnum)(*args64)
    if fd == "full":
        out["fd"] = fd_gradient(f, argnum, *args64)
    elif fd == "directional":
        out["fd"] = fd_directional(f, argnum, directions.astype(jnp.float64), *args64)
    return out


def _all_references(f, argnum, truth64, fd, directions, args) -> dict[str, np.ndarray]:
    """``_references`` fetched to host float64 NumPy, one program when x64 is on (two when
    off: the float32 autodiff must trace in the caller's mode)."""
    float64_part = truth64 or fd is not None
    if x64_on() or not float64_part:
        out = _references(f, argnum, True, truth64, fd, directions, *args)
    else:
        out = dict(_references(f, argnum, True, False, None, directions, *args))
        with jax.enable_x64(True):
            out.update(_references(f, argnum, False, truth64, fd, directions, *args))
    return {k: np.asarray(v) for k, v in out.items()}


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _validate_options(argnum, key, n_directions, argnames, terms) -> None:
    """Type and range checks of ``check_grad``'s keyword arguments, naming the argument."""
    if not _is_int(argnum):
        raise TypeError(f"argnum must be an integer, got {type(argnum).__name__} {argnum!r}")
    if not _is_int(n_directions):
        raise TypeError(
            f"n_directions must be an integer, got {type(n_directions).__name__} {n_directions!r}"
        )
    if not 1 <= n_directions <= MAX_DIRECTIONS:
        raise ValueError(f"n_directions must be in 1..{MAX_DIRECTIONS}, got {n_directions}")
    if key is not None:
        if _is_int(key):
            if key < 0:
                raise ValueError(f"key must be a non-negative int seed or a JAX key, got {key}")
        elif isinstance(key, jax.Array) and (
            jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
            or (key.dtype == jnp.uint32 and key.shape == (2,))
        ):
            if key.shape != () and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
                raise ValueError(f"key must be a single JAX key, got a batch of shape {key.shape}")
        else:
            raise TypeError(
                f"key must be None, an int seed or a JAX PRNG key (jax.random.key(0)), got "
                f"{type(key).__name__}"
                + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else f" {key!r}")
            )
    if argnames is not None and (
        isinstance(argnames, str)
        or not isinstance(argnames, Sequence)
        or not all(isinstance(n, str) for n in argnames)
    ):
        raise TypeError(f"argnames must be a sequence of strings, got {argnames!r}")
    if terms is not None and not (callable(terms) or isinstance(terms, Mapping)):
        raise TypeError(
            f"terms must be a mapping {{label: array}} or a function of the arguments "
            f"returning one, got {type(terms).__name__}"
        )


def _validate(f, args, argnum, argnames) -> tuple:
    if not callable(f):
        raise TypeError(f"the objective must be callable, got {type(f).__name__}")
    if not args:
        raise TypeError("check_grad needs the point to check at: pass the arguments after grad")
    if not -len(args) <= argnum < len(args):
        raise ValueError(f"argnum={argnum} is out of range for {len(args)} arguments")
    converted = []
    for i, a in enumerate(args):
        try:
            arr = to_device(a)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{arg_label(argnames, i)} must be an array or a number, got {type(a).__name__}"
            ) from err
        converted.append(arr)
    args = tuple(converted)
    for i, a in enumerate(args):
        require_finite(arg_label(argnames, i), a)
    x = args[argnum]
    name = arg_label(argnames, argnum % len(args))
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"the differentiated {name} must be floating, got {x.dtype}")
    if x.size == 0:
        raise ValueError(
            f"the differentiated {name} has zero size (shape {x.shape}): there is no gradient "
            f"to check"
        )
    out = jax.eval_shape(f, *args)
    if getattr(out, "shape", None) != ():
        raise TypeError(
            f"the objective must return a scalar, got {getattr(out, 'shape', type(out))}; "
            f"gradients are defined for scalar objectives (sum or trace it first)"
        )
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise TypeError(
            f"the objective returns {out.dtype}; check_grad checks gradients of real-valued "
            f"objectives (take the real part, or |f|^2)"
        )
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"the objective returns {out.dtype}; a gradient needs a real floating scalar "
            f"(an integer or boolean output has no derivative)"
        )
    return args


def _as_candidate(value, expected: str) -> jax.Array:
    """The candidate as an array, or a ``TypeError`` naming ``grad`` and what it returned."""
    if value is None or isinstance(value, str | bytes | Mapping | list | tuple):
        what = "None" if value is None else f"a {type(value).__name__}"
        raise TypeError(
            f"grad returned {what}; it must return one array shaped like {expected} "
            f"(or be that array)"
        )
    try:
        arr = jnp.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"grad returned {type(value).__name__}, which is not an array; it must return one "
            f"array shaped like {expected}"
        ) from err
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        raise TypeError(f"grad returned an array of dtype {arr.dtype}; expected numbers")
    return arr


def _terms_values(terms, args64, shape) -> dict[str, np.ndarray]:
    value = evaluate(terms, *args64) if callable(terms) else terms
    return _terms_arrays(value, shape)


def _terms_valid_shapes(terms: Callable, args64, shape) -> bool:
    """Whether ``terms(*args64)`` traces to a mapping of string labels to real arrays of
    ``shape`` (checked by ``jax.eval_shape``, which compiles nothing)."""
    try:
        out = jax.eval_shape(terms, *args64)
    except Exception:  # noqa: BLE001 - evaluated eagerly, which raises the named error
        return False
    return isinstance(out, Mapping) and all(
        isinstance(k, str)
        and isinstance(v, jax.ShapeDtypeStruct)
        and tuple(v.shape) == tuple(shape)
        and (jnp.issubdtype(v.dtype, jnp.floating) or jnp.issubdtype(v.dtype, jnp.integer))
        for k, v in out.items()
    )


def _lazy_terms(terms, args, shape) -> dict[str, np.ndarray] | Callable[[], dict]:
    """The terms' values, validated now so that malformed terms fail even for a right
    gradient; a terms function whose output ``jax.eval_shape`` already validates is evaluated
    only when a diagnosis needs it (a passing check compiles no program for it)."""
    with jax.enable_x64(True):
        args64 = as_f64(args)
        if not callable(terms) or not _terms_valid_shapes(terms, args64, shape):
            return _terms_values(terms, args64, shape)

    def values() -> dict[str, np.ndarray]:
        with jax.enable_x64(True):
            return _terms_values(terms, as_f64(args), shape)

    return values


def _terms_arrays(value, shape) -> dict[str, np.ndarray]:
    if not isinstance(value, Mapping):
        raise TypeError(f"terms must give a mapping {{label: array}}, got {type(value).__name__}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise TypeError(f"terms labels must be strings, got {k!r}")
        try:
            arr = np.asarray(v, np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"terms[{k!r}] is not a real array: {type(v).__name__}") from err
        if arr.shape != tuple(shape):
            raise ValueError(f"terms[{k!r}] has shape {arr.shape}, expected {tuple(shape)}")
        out[k] = arr
    return out


def _x64_needed(raw_args) -> bool:
    """True when a float64 (NumPy) argument would be silently cast to float32 (x64 off)."""
    if jax.dtypes.canonicalize_dtype(np.float64) == np.float64:
        return False
    for a in raw_args:
        if isinstance(a, jax.Array):
            continue
        dtype = getattr(a, "dtype", None)
        if dtype is not None and np.dtype(dtype) in (np.float64, np.complex128):
            return True
    return False


def check_grad(
    f: Callable[..., jax.Array],
    grad: Callable[..., jax.Array] | jax.Array,
    *args,
    argnum: int = 0,
    rtol: float | None = None,
    atol: float | None = None,
    key: jax.Array | int | None = None,
    n_directions: int | None = None,
    terms: Callable[..., Mapping[str, jax.Array]] | Mapping[str, jax.Array] | None = None,
    argnames: Sequence[str] | None = None,
    fd: bool | None = None,
) -> GradReport:
    """Check a hand-derived gradient of scalar ``f`` against independent references.

    The references:

    * ``reverse``: ``jax.grad(f, argnum)`` in the arguments' own dtype; compared normwise,
      ``max|c - g| <= atol + rtol * max|g|``.
    * ``reverse64`` (float32 and lower only): ``jax.grad`` in float64 at the exactly upcast
      inputs, the true gradient at the candidate's own point; same normwise test.
    * ``forward``: directional derivatives ``jax.jvp`` along ``n_directions`` random normal
      directions ``v``, compared with ``<c, v>``; relative error
      ``|<c, v> - jvp| / (||g||_2 ||v||_2)`` (the Cauchy-Schwarz scale of the projection).
    * ``fd64``: fourth-order central finite differences evaluated in float64 whatever the input
      dtype; full gradient up to ``FD_FULL_MAX_SIZE`` entries, directional beyond.  Held to
      ``max(rtol, 1e-6)``, the floor covering the stencil's own error.

    Tolerances (``tracegrad.tolerances``; the checking guide explains them): float64 uses the
    fixed ``sqrt(eps) = 1.1e-8``.  Float32 sets ``rtol`` from the evidence: the gradient is
    re-evaluated in float64 at the same inputs and the float32 computations' distance from it
    (``jax.grad``, ``jax.jvp`` and, when ``grad`` is a function that also runs in float64, the
    candidate's own rounding) is the computation's float32 noise; ``rtol`` is ten times it,
    floored at 16 ulps and capped at 1e-2 (``report.noise`` holds the measurement).  Explicit
    ``rtol``/``atol`` override.  At a stationary point the true gradient is ~0 and a relative
    test is meaningless: pass an ``atol`` scaled to the problem.

    When ``jax.grad`` and the finite differences disagree with each other (``f`` is not
    differentiable at the point, e.g. ``abs`` at 0, or a custom derivative rule inside ``f`` is
    wrong), the check fails as inconclusive and says so rather than blaming the candidate.

    When a reference disagrees, ``diagnosis`` names the likely mistake (transposed, scaled by a
    constant, sign flipped, only the symmetric part, wrong shape, a complex candidate, and a
    missing, doubled or transposed per-appearance term), found against float64 autodiff.  The
    per-appearance terms come from ``terms`` when given, else automatically from the jaxpr of
    ``f`` (each use of the differentiated argument is one term, named by its operation and
    source line).

    Float64 NumPy arguments while ``jax_enable_x64`` is off are checked in float64 inside a
    ``jax.enable_x64`` scope (``report.notes`` says so) rather than silently in float32.

    Args:
        f: scalar objective, a JAX-traceable function of ``args`` returning a real float.
        grad: the candidate: a function of ``args`` returning the gradient w.r.t.
            ``args[argnum]``, or the gradient array itself.
        *args: the point at which to check.  NaN or Inf in any argument is an error.
        argnum: which argument the gradient is taken with respect to (an integer).
        rtol: normwise relative tolerance (finite, >= 0); default per dtype as above.
        atol: normwise absolute tolerance (finite, >= 0); default per dtype as above.
        key: seed (int >= 0) or JAX PRNG key for the random directions (default 0).
        n_directions: number of forward-mode (and large-input finite-difference) directions,
            >= 1; default 4, or 1 for float32 above ``FD_FULL_MAX_SIZE`` entries.
        fd: whether to compute the float64 finite differences.  Default: always up to
            ``FD_FULL_MAX_SIZE`` entries; above it only for float64 arguments, since for
            float32 the float64 reverse-mode truth already sets the tolerance and the
            differences would cost several times the check (``True`` forces them).
        terms: optional per-appearance terms summing to the true gradient (a function of
            ``args`` or a mapping of label to array), used only for the diagnosis.
        argnames: optional names of ``args`` for messages.

    Returns:
        A ``GradReport``; ``bool(report)`` is ``report.ok``.

    Raises:
        TypeError: non-callable objective; an objective that is not a real floating scalar;
            a non-floating differentiated argument; a non-integer ``argnum``/``n_directions``;
            a ``key``, ``terms``, ``argnames`` or ``rtol``/``atol`` of the wrong type; a
            ``grad`` that returns None, a string, a dict or another non-array.
        ValueError: NaN/Inf arguments, a zero-size differentiated argument, an objective that
            is not finite at ``args``, ``argnum`` out of range, negative or NaN ``rtol`` /
            ``atol``, ``n_directions < 1``, terms of the wrong shape.
    """
    if n_directions is not None:
        _validate_options(argnum, key, n_directions, argnames, terms)
    else:
        _validate_options(argnum, key, 1, argnames, terms)
    if fd is not None and not isinstance(fd, bool | np.bool_):
        raise TypeError(f"fd must be None, True or False, got {fd!r}")
    if grad is None or isinstance(grad, str | bytes | Mapping):
        raise TypeError(
            f"grad must be a function of the arguments or the gradient array, got "
            f"{type(grad).__name__}"
        )
    if _x64_needed(args):
        with jax.enable_x64(True):
            report = _check(
                f, grad, args, int(argnum), rtol, atol, key, n_directions, terms, argnames, fd
            )
        note = (
            "float64 arguments with jax_enable_x64 off: checked in float64 inside a "
            "jax.enable_x64(True) scope"
        )
        return dataclasses.replace(report, notes=(*report.notes, note))
    return _check(f, grad, args, int(argnum), rtol, atol, key, n_directions, terms, argnames, fd)


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What one check is about: the objective at its point, and the candidate."""

    f: Callable
    args: tuple
    argnum: int
    argnames: Sequence[str] | None
    grad: Callable | jax.Array  # as given: a function is re-evaluated in float64
    candidate: jax.Array  # what grad gave (the report names its shape and dtype)
    c: jax.Array  # the candidate in the argument's dtype
    term_values: Mapping[str, np.ndarray] | Callable[[], dict] | None

    @property
    def x(self) -> jax.Array:
        return self.args[self.argnum]


@dataclasses.dataclass(frozen=True)
class _Options:
    """How the references are taken: the tolerances asked for and their defaults, the
    directions, the finite differences."""

    rtol: float | None  # as given: None sets it from the evidence
    fixed_rtol: float
    atol: float
    key: jax.Array | int
    n_directions: int
    fd: bool | None
    f64: bool  # whether f computes in float64 at float64 inputs


@dataclasses.dataclass(frozen=True)
class _Evidence:
    """What the references found: the verdict is drawn from it."""

    refs: dict[str, ReferenceResult]
    g64: np.ndarray | jax.Array  # the float64 truth, read only to diagnose a failure
    consistency: str | None  # autodiff and finite differences disagreeing, where
    rtol: float
    atol: float
    noise: float | None
    notes: tuple[str, ...]


def _check(f, grad, args, argnum, rtol, atol, key, n_directions, terms, argnames, fd):
    args = _validate(f, args, argnum, argnames)
    argnum = argnum % len(args)
    x = args[argnum]
    dtype = x.dtype
    fixed_rtol, atol_ = tolerances(dtype, rtol, atol)
    f64 = _runs_in_float64(f, args) if uses_evidence(dtype) else True
    expected = f"{arg_label(argnames, argnum)} ({x.dtype} {tuple(x.shape)})"
    candidate = _as_candidate(evaluate(grad, *args) if callable(grad) else grad, expected)
    if key is None:
        key = 0
    shape = tuple(x.shape)

    def truth64() -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(_reverse(f, argnum, *as_f64(args)))

    def early(diagnosis: str, abs_err: float, rel_err: float) -> GradReport:
        return GradReport(
            ok=False,
            max_abs_err=abs_err,
            max_rel_err=rel_err,
            references={},
            diagnosis=diagnosis,
            dtype=str(dtype),
            shape=shape,
            candidate_shape=tuple(candidate.shape),
            candidate_dtype=str(candidate.dtype),
            rtol=fixed_rtol,
            atol=atol_,
        )

    if candidate.shape != x.shape:
        truth = truth64()
        return early(
            diagnose(candidate, truth, tol=PATTERN_TOL_FACTOR * fixed_rtol),
            float("inf"),
            float("inf"),
        )
    if jnp.issubdtype(candidate.dtype, jnp.complexfloating):
        truth = truth64()
        c_complex = np.asarray(candidate, np.complex128)
        imag = float(np.max(np.abs(c_complex.imag)))
        abs_err = float(np.max(np.abs(c_complex - truth)))
        scale = float(np.max(np.abs(truth)))
        return early(
            f"complex candidate ({candidate.dtype}) for a real objective of a real "
            f"{arg_label(argnames, argnum)}: the gradient must be real (largest imaginary part "
            f"{imag:.3e}); discarding it would hide the error",
            abs_err,
            abs_err / scale if scale > 0 else float("inf"),
        )

    term_values = None
    if terms is not None:  # validated now, so malformed terms fail even for a right gradient
        with jax.enable_x64(True):
            term_values = _lazy_terms(terms, args, shape)

    large = x.size > FD_FULL_MAX_SIZE
    if n_directions is None:  # one forward direction for a large float32 check (its cost)
        n_directions = 1 if large and uses_evidence(dtype) else 4
    problem = _Problem(
        f, args, argnum, argnames, grad, candidate, candidate.astype(dtype), term_values
    )
    options = _Options(rtol, fixed_rtol, atol_, key, int(n_directions), fd, f64)
    return (_check_large if large else _check_small)(problem, options)


def _check_small(problem: _Problem, options: _Options) -> GradReport:
    """``check_grad`` up to ``FD_FULL_MAX_SIZE`` entries: the references on the host."""
    f, args, argnum, c, x = problem.f, problem.args, problem.argnum, problem.c, problem.x
    dtype = x.dtype
    fixed_rtol, atol_ = options.fixed_rtol, options.atol
    n_directions, f64 = options.n_directions, options.f64
    evidence = options.rtol is None and uses_evidence(dtype) and f64
    notes: list[str] = []
    refs: dict[str, ReferenceResult] = {}

    # every reference in one compiled program (two with x64 off: see _all_references): reverse
    # and forward mode (random directions) in the arguments' dtype, the float64 truth at the
    # same inputs for a low-precision dtype, and the float64 finite differences; the error
    # metrics are then computed on the host in float64
    directions = random_directions(options.key, n_directions, x.shape, dtype)
    # the differences are off on request, or when f rounds to float32 inside, where
    # differences of it mean nothing (this path has at most FD_FULL_MAX_SIZE entries)
    fd_mode = None if options.fd is False or not f64 else "full"
    out = _all_references(f, argnum, uses_evidence(dtype), fd_mode, directions, args)
    value = out["value"]
    if not np.isfinite(float(value)):
        raise ValueError(
            f"the objective is {float(value)} at these arguments; choose arguments in its "
            f"domain (positive where it takes a log, well-conditioned where it inverts)"
        )
    c_np = np.asarray(c, np.float64)
    g_np = np.asarray(out["g"], np.float64)
    v_np = np.asarray(directions, np.float64).reshape(n_directions, -1)
    vnorm = np.linalg.norm(v_np, axis=1)
    jvp_np = np.asarray(out["jvps"], np.float64)

    # the float64 truth at the same inputs: the evidence for the low-precision tolerance
    noise = None
    if uses_evidence(dtype):
        g64 = np.asarray(out["g64"], np.float64)
        scale64 = float(np.max(np.abs(g64)))
        norm64 = float(np.linalg.norm(g64))
        if scale64 > 0:
            n_rev = float(np.max(np.abs(g_np - g64))) / scale64
            n_fwd = float(np.max(np.abs(jvp_np - v_np @ g64.ravel()) / (norm64 * vnorm)))
            noise = max(n_rev, n_fwd)
            if callable(problem.grad) and x.size <= FD_FULL_MAX_SIZE:
                c64 = _candidate64(problem.grad, args)
                if c64 is not None and c64.shape == c_np.shape:
                    noise = max(noise, float(np.max(np.abs(c_np - c64))) / scale64)
        else:
            noise = 0.0
    else:
        g64 = g_np
    rtol_ = evidence_rtol(dtype, noise) if evidence and noise is not None else fixed_rtol
    if evidence and noise is not None and rtol_ >= NOISE_CAP:
        notes.append(
            f"the {dtype} noise of this computation ({noise:.1e}) is too large to resolve the "
            f"gradient: tolerance capped at {NOISE_CAP:.0e}; check in float64"
        )
    if not evidence or noise is None:
        noise = None
    if not f64:
        notes.append(_NOT_F64)

    refs["reverse"] = normwise("reverse", c_np, g_np, rtol_, atol_, f"jax.grad in {dtype}")
    if uses_evidence(dtype):
        refs["reverse64"] = normwise(
            "reverse64", c_np, g64, rtol_, atol_, "jax.grad in float64 at the same inputs"
        )

    refs["forward"] = forward_result(
        v_np @ c_np.ravel(), jvp_np, float(np.linalg.norm(g_np)), vnorm, rtol_, atol_, dtype,
        f"jax.jvp along {n_directions} random directions in {dtype}",
    )  # fmt: skip

    # finite differences in float64 regardless of dtype; they also test that autodiff itself
    # is consistent at this point (a kink, or a wrong custom rule inside f, breaks it)
    fd_rtol = max(rtol_, FD_RTOL_FLOOR)
    fd_atol = max(atol_, 8 * np.finfo(np.float64).eps)
    consistency = None
    if fd_mode is not None:
        fd = np.asarray(out["fd"], np.float64)
        refs["fd64"] = normwise(
            "fd64",
            c_np,
            fd,
            fd_rtol,
            fd_atol,
            "4th-order central differences in float64, every entry",
        )
        gap = np.abs(g64 - fd)
        gap_scale = max(float(np.max(np.abs(g64))), float(np.max(np.abs(fd))))
        if f64 and float(gap.max()) > _CONSISTENCY_RTOL * gap_scale + fd_atol:
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
            consistency = (
                f"largest at index {idx}: jax.grad {g64[idx]:.6g}, finite differences {fd[idx]:.6g}"
            )

    return _verdict(problem, _Evidence(refs, g64, consistency, rtol_, atol_, noise, tuple(notes)))


def _verdict(problem: _Problem, evidence: _Evidence) -> GradReport:
    """The report: the verdict over the references and, on failure, the diagnosis against
    the float64 truth."""
    f, c, argnum, refs = problem.f, problem.c, problem.argnum, evidence.refs
    consistency, tol = evidence.consistency, PATTERN_TOL_FACTOR * evidence.rtol
    term_values = problem.term_values
    ok = all(r.ok for r in refs.values()) and consistency is None
    if consistency is not None:
        agrees = [n for n in ("reverse", "fd64") if refs[n].ok]
        sides: dict[tuple[str, ...], str] = {
            ("reverse",): "the candidate agrees with autodiff",
            ("fd64",): "the candidate agrees with the finite differences",
        }
        side = sides.get(tuple(agrees), "the candidate agrees with neither")
        diagnosis = (
            f"inconclusive: the references disagree with each other ({consistency}); f is "
            f"probably not differentiable at these arguments (a kink: abs, max, relu or a sort "
            f"tie at 0) or a custom derivative rule inside f is wrong; {side}. Check at "
            f"another point"
        )
    elif ok:
        diagnosis = "ok"
    else:
        g64 = np.asarray(evidence.g64, np.float64)
        with jax.enable_x64(True):
            args64 = as_f64(problem.args)
            if callable(term_values):
                term_values = term_values()
            assert term_values is None or isinstance(term_values, Mapping)
            diagnosis = diagnose(c, g64, tol=tol, terms=term_values)
            if diagnosis.startswith("no simple pattern"):
                # automatic terms from the jaxpr (also when the given terms= explain nothing):
                # try each basis until one explains the candidate
                for basis, where in appearance_terms(f, argnum, args64, problem.argnames):
                    found = diagnose(c, g64, tol=tol, terms=basis)
                    if "per-appearance" in found:
                        diagnosis = found + where
                        break
    return grad_report(
        refs,
        ok=ok,
        diagnosis=diagnosis,
        dtype=str(problem.x.dtype),
        shape=tuple(problem.x.shape),
        candidate_shape=tuple(problem.candidate.shape),
        candidate_dtype=str(problem.candidate.dtype),
        rtol=evidence.rtol,
        atol=evidence.atol,
        noise=evidence.noise,
        notes=evidence.notes,
    )


_NOT_F64 = (
    "f computes in float32 even at float64 inputs (its result is float32 there): the float64 "
    "references are only float32-accurate, so the fixed tolerance is used and no finite "
    "differences are taken"
)


def _runs_in_float64(f: Callable, args: tuple) -> bool:
    """Whether ``f`` at the float64-upcast arguments returns float64 (the evidence needs it)."""
    try:
        with jax.enable_x64(True):
            out = jax.eval_shape(f, *as_f64(args))
    except Exception:  # noqa: BLE001 - f that cannot even be traced in float64
        return False
    return getattr(out, "dtype", None) == jnp.float64


def _candidate64(grad: Callable, args: tuple) -> np.ndarray | None:
    """The candidate function re-evaluated at the float64-upcast inputs, when it runs there.

    Its distance from the float32 candidate is the candidate's own rounding; a function that
    does not run in float64 (or keeps returning float32) gives None.
    """
    try:
        with jax.enable_x64(True):
            out = evaluate(grad, *as_f64(args))
            arr = np.asarray(out)
    except Exception:  # noqa: BLE001 - evidence only: a candidate that cannot run in float64
        return None
    if arr.dtype != np.float64 or not np.isfinite(arr).all():
        return None
    return arr


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


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _device_directions(key, n: int, shape: tuple, dtype) -> jax.Array:
    return jax.random.normal(key, (n, *shape), dtype)


@reference_jit
def _large_metrics(c, g, g64, directions, jvps):
    """The scalars the large-argument check needs, computed where the arrays live (float64)."""
    c, g, g64 = (a.astype(jnp.float64) for a in (c, g, g64))
    v = directions.reshape(directions.shape[0], -1).astype(jnp.float64)
    return {
        "c_g": jnp.max(jnp.abs(c - g)),
        "c_g64": jnp.max(jnp.abs(c - g64)),
        "g_g64": jnp.max(jnp.abs(g - g64)),
        "max_g": jnp.max(jnp.abs(g)),
        "max_g64": jnp.max(jnp.abs(g64)),
        "norm_g": jnp.linalg.norm(g.ravel()),
        "norm_g64": jnp.linalg.norm(g64.ravel()),
        "vnorm": jnp.linalg.norm(v, axis=1),
        "vc": v @ c.ravel(),
        "vg64": v @ g64.ravel(),
        "jvp": jvps.astype(jnp.float64),
    }


def _check_large(problem: _Problem, options: _Options) -> GradReport:
    """``check_grad`` above ``FD_FULL_MAX_SIZE`` entries: every array stays on the device.

    Directions are drawn on the device, the error metrics are reduced there, and (for float32)
    the finite differences are skipped unless ``fd=True``: the float64 reverse-mode truth
    already measures the candidate at its own point, and the differences would cost several
    times the whole check.  The references and tolerances are otherwise those of the small path.
    """
    f, args, argnum, c, x = problem.f, problem.args, problem.argnum, problem.c, problem.x
    dtype = x.dtype
    shape = tuple(x.shape)
    rtol, fixed_rtol, atol_ = options.rtol, options.fixed_rtol, options.atol
    key, n_directions, fd, f64 = options.key, options.n_directions, options.fd, options.f64
    notes: list[str] = []
    if not isinstance(key, int | np.integer):
        if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.wrap_key_data(key)
    else:
        key = jax.random.key(int(key))
    directions = _device_directions(key, n_directions, shape, jnp.dtype(dtype))
    value, g, jvps = _autodiff(f, argnum, directions, *args)
    if not np.isfinite(float(value)):
        raise ValueError(
            f"the objective is {float(value)} at these arguments; choose arguments in its "
            f"domain (positive where it takes a log, well-conditioned where it inverts)"
        )
    evidence_dtype = uses_evidence(dtype)
    if not f64:
        notes.append(_NOT_F64)
    with jax.enable_x64(True):
        if evidence_dtype:  # upcast inside the program: the arrays stay on the device
            g64 = _references(f, argnum, False, True, None, directions, *args)["g64"]
        else:
            g64 = g
        m = {
            k: np.asarray(v, np.float64)
            for k, v in _large_metrics(c, g, g64, directions, jvps).items()
        }
    max_g64, norm64 = float(m["max_g64"]), float(m["norm_g64"])
    vnorm = m["vnorm"]
    noise = None
    if evidence_dtype:
        if max_g64 > 0:
            n_rev = float(m["g_g64"]) / max_g64
            n_fwd = float(np.max(np.abs(m["jvp"] - m["vg64"]) / (norm64 * vnorm)))
            noise = max(n_rev, n_fwd)
        else:
            noise = 0.0
    if not f64:
        noise = None
    evidence = rtol is None and noise is not None
    rtol_ = evidence_rtol(dtype, noise) if noise is not None and rtol is None else fixed_rtol
    if evidence and rtol_ >= NOISE_CAP:
        notes.append(
            f"the {dtype} noise of this computation ({noise:.1e}) is too large to resolve the "
            f"gradient: tolerance capped at {NOISE_CAP:.0e}; check in float64"
        )

    def measured(name, abs_err, scale, detail):
        rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
        ok = bool(np.isfinite(abs_err) and abs_err <= atol_ + rtol_ * scale)
        return ReferenceResult(name, abs_err, rel, rtol_, ok, detail)

    refs: dict[str, ReferenceResult] = {}
    refs["reverse"] = measured(
        "reverse", float(m["c_g"]), float(m["max_g"]), f"jax.grad in {dtype}"
    )
    if evidence_dtype:
        refs["reverse64"] = measured(
            "reverse64", float(m["c_g64"]), max_g64, "jax.grad in float64 at the same inputs"
        )
    refs["forward"] = forward_result(
        m["vc"], m["jvp"], float(m["norm_g"]), vnorm, rtol_, atol_, dtype,
        f"jax.jvp along {n_directions} random direction{'s' * (n_directions > 1)} in {dtype}",
    )  # fmt: skip
    consistency = None
    if f64 and (fd or (fd is None and not evidence_dtype)):
        fd_rtol = max(rtol_, FD_RTOL_FLOOR)
        fd_atol = max(atol_, 8 * np.finfo(np.float64).eps)
        with jax.enable_x64(True):
            fdv = np.asarray(
                _references(f, argnum, False, False, "directional", directions, *args)["fd"]
            )
        norm = max(norm64, 1e-300)
        d_abs = np.abs(m["vc"] - fdv)
        d_rel = d_abs / (norm * vnorm)
        refs["fd64"] = ReferenceResult(
            "fd64",
            float(d_abs.max()),
            float(d_rel.max()),
            fd_rtol,
            bool(np.all(d_rel <= fd_rtol + fd_atol / norm)),
            f"4th-order central differences in float64 along {n_directions} directions",
        )
        gap = np.abs(m["vg64"] - fdv) / (norm * vnorm)
        if f64 and float(gap.max()) > _CONSISTENCY_RTOL + fd_atol / norm:
            k = int(np.argmax(gap))
            consistency = (
                f"along direction {k}: jax.jvp {float(m['vg64'][k]):.6g}, "
                f"finite differences {fdv[k]:.6g}"
            )
    noise = noise if evidence else None
    # the common case, a pass, reads no g64: nothing leaves the device
    return _verdict(problem, _Evidence(refs, g64, consistency, rtol_, atol_, noise, tuple(notes)))
