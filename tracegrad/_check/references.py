"""What the first- and second-order checkers share to compute their references.

**Compilation.**  A reference is the truth a hand-derived gradient is judged against, so it is
compiled conservatively.  On the CPU backend of jax/jaxlib 0.10.2, XLA's default YNNPACK fusion
(``xla_cpu_experimental_ynn_fusion_type``) miscompiles some reverse-mode programs: for
``f = sum(ones(q, p) * (B^T (x[:, None] * A^T)))`` (the derive engine's form of trace notes
eq. 32-34), ``jax.jit(jax.grad(f, argnums=1))`` returns NaN in float64 and values off by
~1e11 in float32 at A 64x72, B 72x80, while the same gradient without jit, or compiled with
that fusion off, is right to 1e-13.  References are therefore compiled with the fusion
disabled on CPU (``compiler_options``, per program: nothing global changes, and users' own
functions compile as they always do).  Where the option does not exist (another backend, or
a jaxlib without it) references compile with the defaults (``reference_jit``).

**Finite differences in float64**, the checker's autodiff-independent reference.  The stencil
is the fourth-order central difference

    f'(x) ~ [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / (12 h),

whose truncation error is O(h^4) and rounding error O(eps |f| / h).  With
``h_i = 1e-3 * max(|x_i|, 1e-2 * rms(x))`` both stay near 1e-10 relative for the smooth
objectives of the registry, and the relative step keeps ``x - 2h`` inside a positive domain
(a log or an NMF factor) whenever ``x`` is.  The step is rounded to a representable difference,
``h = (x + h) - x``, so the divisor is exactly the perturbation applied.  Callers enter
``jax.enable_x64(True)`` themselves; the ``fd_*`` functions assume float64 inputs.

**The float64 re-evaluation** (``as_f64``, ``upcast``, ``x64_on``), **the random directions**
(``random_directions``), **the normwise measure** (``normwise``) and the candidate's evaluation
(``evaluate``, ``to_device``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete
from .report import ReferenceResult

TRACING_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)
"""What a function that cannot be traced (NumPy inside, Python control flow on values) raises."""

# ---------------------------------------------------------------------------------------------
# compilation

_CONSERVATIVE_CPU = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def reference_options() -> dict[str, str]:
    """Compiler options for reference programs: YNN fusion off on CPU when supported."""
    if jax.default_backend() != "cpu":
        return {}
    try:
        jax.jit(lambda x: x + 1, compiler_options=_CONSERVATIVE_CPU).lower(
            jnp.zeros(2, jnp.float32)
        ).compile()
    except Exception:  # noqa: BLE001 - an unknown option: this jaxlib has no such fusion
        return {}
    return dict(_CONSERVATIVE_CPU)


def reference_jit(fun: Callable | None = None, *, static_argnums=()) -> Callable:
    """``jax.jit`` with ``reference_options()``, decided at the first call (not at import).

    Usable as ``reference_jit(f)`` or as a decorator ``@reference_jit(static_argnums=...)``.
    """
    if fun is None:
        return functools.partial(reference_jit, static_argnums=static_argnums)

    @functools.cache
    def compiled() -> Callable:
        return jax.jit(fun, static_argnums=static_argnums, compiler_options=reference_options())

    @functools.wraps(fun)
    def call(*args):
        return compiled()(*args)

    return call


# ---------------------------------------------------------------------------------------------
# finite differences in float64

_REL_STEP = 1e-3
_FLOOR = 1e-2
_BATCH = 64  # perturbed copies evaluated per vmapped batch


def _steps(x: jax.Array) -> jax.Array:
    flat = x.ravel()
    rms = jnp.sqrt(jnp.mean(flat * flat))
    floor = jnp.where(rms > 0, _FLOOR * rms, 1.0)
    h = _REL_STEP * jnp.maximum(jnp.abs(flat), floor)
    return (flat + h) - flat


def replace_arg(args: tuple, argnum: int, value) -> tuple:
    """``args`` with ``args[argnum]`` replaced by ``value``."""
    return args[:argnum] + (value,) + args[argnum + 1 :]


def fd_gradient(f: Callable, argnum: int, *args) -> jax.Array:
    """Full finite-difference gradient of scalar ``f`` w.r.t. ``args[argnum]`` (one entry each);
    traced inside a caller's program."""
    x = args[argnum]
    flat = x.ravel()
    h = _steps(x)

    def entry(i):
        def at(t):
            return f(*replace_arg(args, argnum, flat.at[i].add(t * h[i]).reshape(x.shape)))

        return (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h[i])

    grads = jax.lax.map(entry, jnp.arange(flat.size), batch_size=min(flat.size, _BATCH))
    return grads.reshape(x.shape)


def fd_directional(f: Callable, argnum: int, directions: jax.Array, *args) -> jax.Array:
    """Finite-difference directional derivatives of ``f`` along each of ``directions``.

    ``directions`` has shape ``(k, *x.shape)``; returns ``(k,)``.  Traced inside a caller's
    program.
    """
    x = args[argnum]
    x_rms = jnp.sqrt(jnp.mean(x * x))
    x_scale = jnp.where(x_rms > 0, x_rms, 1.0)

    def one(v):
        v_rms = jnp.sqrt(jnp.mean(v * v))
        t = _REL_STEP * _FLOOR * x_scale / jnp.where(v_rms > 0, v_rms, 1.0)

        def at(s):
            return f(*replace_arg(args, argnum, x + (s * t) * v))

        return (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * t)

    return jax.lax.map(one, directions)


# ---------------------------------------------------------------------------------------------
# the float64 re-evaluation, the directions, the measure


def upcast(a: jax.Array) -> jax.Array:
    """``a`` in float64 (exactly) when floating, else unchanged; traced inside a program."""
    return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a


def x64_on() -> bool:
    """Whether arrays default to 64 bits here (globally or inside ``jax.enable_x64``)."""
    return jax.dtypes.canonicalize_dtype(np.float64) == np.float64


def normwise(name, c, g, rtol, atol, detail) -> ReferenceResult:
    """``max|c - g| <= atol + rtol * max|g|`` on host float64 arrays."""
    abs_err = float(np.max(np.abs(c - g))) if c.size else 0.0
    scale = float(np.max(np.abs(g))) if g.size else 0.0
    if scale > 0:
        rel = abs_err / scale
    else:
        rel = 0.0 if abs_err == 0 else float("inf")
    ok = bool(np.isfinite(abs_err) and abs_err <= atol + rtol * scale)
    return ReferenceResult(name, abs_err, rel, rtol, ok, detail)


def forward_result(
    vc, jvp, g_norm: float, vnorm, rtol, atol, dtype, detail: str
) -> ReferenceResult:
    """Forward mode: ``<c, v>`` against the directional derivatives ``jvp`` along each ``v``,
    relative to ``||g||_2 ||v||_2`` (host float64)."""
    gnorm = max(g_norm, float(jnp.finfo(dtype).tiny))
    f_abs = np.abs(vc - jvp)
    f_rel = f_abs / (gnorm * vnorm)
    ok = bool(np.all(f_rel <= rtol + atol / gnorm))
    return ReferenceResult("forward", float(f_abs.max()), float(f_rel.max()), rtol, ok, detail)


@functools.partial(jax.jit, static_argnums=0)
def _call_jitted(fn: Callable, *args):
    return fn(*args)


_JITTED = type(jax.jit(lambda: None))


def evaluate(fn: Callable, *args):
    """``fn(*args)``, compiled as one program when ``fn`` is traceable, else called eagerly.

    One compilation of the whole function is much cheaper than op-by-op dispatch of each of its
    primitives; a gradient written with NumPy (not traceable) still works, eagerly.  A function
    that is already ``jax.jit``-compiled (``derive``'s gradients) is called as it is: wrapping
    it would compile a second program of the same computation.
    """
    try:
        if isinstance(fn, _JITTED):
            return fn(*args)
        return _call_jitted(fn, *args)
    except TRACING_ERRORS:
        return fn(*args)


def random_directions(key, n: int, shape, dtype) -> np.ndarray:
    """``n`` standard-normal directions, drawn with NumPy from ``key`` (an int or a JAX key).

    Drawing on the host keeps the random-bit generator out of the compiled reference program,
    which roughly halves its compile time; the directions only need to be generic.  They stay
    a NumPy array (rounded to ``dtype`` on the host where NumPy rounds as XLA does): a jitted
    reference takes it as an argument, and no conversion program compiles per shape.
    """
    if not isinstance(key, int | np.integer):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        key = int(np.asarray(key).ravel()[-1])
    rng = np.random.default_rng(key)
    draws = rng.standard_normal((n, *shape))
    if np.dtype(dtype) in (np.float32, np.float64):  # IEEE round-to-nearest, as XLA's convert
        return draws.astype(dtype)
    return np.asarray(jnp.asarray(draws, dtype))  # half precision: XLA's own rounding


def to_device(a) -> jax.Array:
    """``jnp.asarray(a)`` without compiling: ``jnp.asarray`` of a NumPy array or a number runs
    a small program per shape and dtype (jax 0.10's ``lax.stage``); ``jax.device_put`` gives
    the same array (same canonical dtype, same weak type) by a plain transfer."""
    if isinstance(a, jax.Array):
        return a
    if (type(a) is np.ndarray and a.dtype.kind in "biufc") or isinstance(
        a, bool | int | float | complex | np.bool_ | np.number
    ):
        return jax.device_put(a)
    return jnp.asarray(a)


def as_f64(args: Sequence) -> tuple:
    """The floating arguments exactly upcast to float64 (call inside ``jax.enable_x64``),
    on the host: an eager ``astype`` would compile a conversion program per shape."""
    out = []
    for a in args:
        if not jnp.issubdtype(jnp.result_type(a), jnp.floating) or jnp.result_type(a) == (
            jnp.float64
        ):
            out.append(to_device(a))
        elif not is_concrete(a):
            out.append(jnp.asarray(a, jnp.float64))
        else:
            out.append(jax.device_put(np.asarray(a, np.float64)))
    return tuple(out)


def arg_label(argnames: Sequence[str] | None, i: int) -> str:
    """``argument i (name)`` for messages."""
    if argnames is not None and i < len(argnames):
        return f"argument {i} ({argnames[i]})"
    return f"argument {i}"
