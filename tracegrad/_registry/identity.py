"""``Identity``: one hand-derived gradient with its objective, sampler and source."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from .._bridge.bridge import with_grad
from .._check.grad import check_grad
from .._check.hvp import check_hvp
from .._check.references import TRACING_ERRORS
from .._check.report import GradReport, HVPReport
from .._derive import Derivation, derive


class _FromExpression:
    """``formula`` / ``latex``: as given, else printed by ``tracegrad.derive`` from the expression.

    A data descriptor, so the frozen dataclass stores the given text through it; the derived
    text is computed on first read (deriving compiles and checks, so never at import).
    """

    def __set_name__(self, owner, name: str):
        self.name = name
        self.slot = "_" + name

    def __get__(self, obj, objtype=None) -> str:
        if obj is None:
            return ""
        given = obj.__dict__.get(self.slot, "")
        if given or not obj.expression:
            return given
        return obj.derived_text(latex=self.name == "latex")

    def __set__(self, obj, value) -> None:
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be a string, got {type(value).__name__}")
        obj.__dict__[self.slot] = value


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _draw_jitted(sample, key, dtype: str, n: int | None):
    return sample(key, dtype, n)


def _draw(sample, key, dtype: str, n: int | None) -> tuple:
    """Sample as one compiled program (far cheaper than op-by-op); eagerly if not traceable."""
    try:
        return _draw_jitted(sample, key, dtype, n)
    except TRACING_ERRORS:
        return sample(key, dtype, n)


class Sampler(Protocol):
    """``sample(key, dtype, n=None) -> tuple of arrays``: valid example arguments.

    ``n`` sets the characteristic dimension (benchmarks use 256 and 1024); the sampler derives
    rectangular sizes from it wherever the mathematics allows, so that a transposed gradient
    cannot pass by symmetry.  ``n=None`` gives small default shapes for tests.
    """

    def __call__(self, key: jax.Array, dtype: Any = ..., n: int | None = None) -> tuple: ...


@dataclasses.dataclass(frozen=True, eq=False)
class Identity:
    """A closed-form gradient registered with tracegrad.

    Attributes:
        name: registry key, ``"<document>.<label>"`` for the built-ins (``"traa.eq9"``).
        source: where the result comes from (``"trace notes eq. (9)"``).
        objective: scalar function of the arguments.
        gradient: the hand-derived closed form of ``d objective / d args[wrt]``, a plain
            jittable JAX function of the same arguments; never calls ``jax.grad``/``vjp``/``jvp``.
        sample: ``Sampler`` of valid arguments.
        argnames: names of the arguments, in order.
        wrt: index of the differentiated argument.
        formula: plain-text statement, ``"d tr(A X B)/dX = A^T B^T"``; by default printed by
            ``tracegrad.derive`` from ``expression`` (on first read).
        latex: the same in LaTeX.
        terms: optional function returning the per-appearance terms (``{label: array}``) whose
            sum is the gradient; lets the checker name a missing or doubled term.
        optimum: optional function mapping sampled arguments to arguments at a stationary point
            of the objective in ``args[wrt]`` (the Kalman gain, the Gaussian MLE, the normal
            equations); the closed form must vanish there.
        module: the module that registered it (``tracegrad check --module`` selects by this).
        hvp: optional hand-derived Hessian-vector product, ``hvp(*args, v)`` shaped like
            ``args[wrt]`` (the derivative of ``gradient`` along ``v``); checked by
            ``check_hvp`` and used by ``as_function`` for second derivatives.
        shapes: the shape declaration ``{"A": "p m", ...}`` (letters per argument), or None.
        expression: the objective in the ``derive`` language (``"tr(A X B)"``), or None.
        not_expressible: why the language cannot express the objective (when no expression).
    """

    name: str
    source: str
    objective: Callable[..., jax.Array]
    gradient: Callable[..., jax.Array]
    sample: Sampler
    argnames: tuple[str, ...]
    wrt: int = 0
    formula: str = _FromExpression()  # type: ignore[assignment]
    latex: str = _FromExpression()  # type: ignore[assignment]
    terms: Callable[..., Mapping[str, jax.Array]] | None = None
    optimum: Callable[..., tuple] | None = None
    module: str = ""
    hvp: Callable[..., jax.Array] | None = None
    shapes: Mapping[str, str] | None = None
    expression: str | None = None
    not_expressible: str = ""

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError("an identity needs a non-empty string name")
        for field in ("objective", "gradient", "sample"):
            if not callable(getattr(self, field)):
                raise TypeError(f"identity {self.name!r}: {field} must be callable")
        if self.hvp is not None and not callable(self.hvp):
            raise TypeError(f"identity {self.name!r}: hvp must be callable or None")
        if self.expression is not None and not isinstance(self.expression, str):
            raise TypeError(f"identity {self.name!r}: expression must be a string or None")
        if not isinstance(self.argnames, tuple):
            object.__setattr__(self, "argnames", tuple(self.argnames))
        if not 0 <= self.wrt < len(self.argnames):
            raise ValueError(
                f"identity {self.name!r}: wrt={self.wrt} is not an index into "
                f"argnames {self.argnames}"
            )

    @property
    def wrt_name(self) -> str:
        """Name of the differentiated argument."""
        return self.argnames[self.wrt]

    def arguments(self, key: jax.Array | int = 0, dtype=jnp.float64, n: int | None = None):
        """Sampled arguments; ``key`` may be an int seed."""
        if isinstance(key, int):
            key = jax.random.key(key)
        args = tuple(_draw(self.sample, key, jnp.dtype(dtype).name, n))
        if len(args) != len(self.argnames):
            raise ValueError(
                f"identity {self.name!r}: sampler returned {len(args)} arguments, "
                f"expected {len(self.argnames)} ({', '.join(self.argnames)})"
            )
        return args

    def check(
        self,
        key: jax.Array | int = 0,
        dtype=jnp.float64,
        n: int | None = None,
        gradient: Callable[..., jax.Array] | None = None,
        **kwargs,
    ) -> GradReport:
        """Check this identity's closed form (or a replacement ``gradient``) on sampled inputs.

        Float64 needs x64 enabled by the caller (``with jax.enable_x64(True):``).
        """
        args = self.arguments(key, dtype, n)
        return check_grad(
            self.objective,
            self.gradient if gradient is None else gradient,
            *args,
            argnum=self.wrt,
            terms=self.terms,
            argnames=self.argnames,
            **kwargs,
        )

    def derivation(self) -> Derivation:
        """``tracegrad.derive(expression, wrt)`` at the sampler's test shapes, computed once.

        Raises:
            ValueError: the identity has no expression.
        """
        if not self.expression:
            raise ValueError(
                f"identity {self.name!r} has no expression"
                + (f" ({self.not_expressible})" if self.not_expressible else "")
            )
        cached = self.__dict__.get("_derivation")
        if cached is None:
            out = jax.eval_shape(
                functools.partial(self.sample, dtype="float32", n=None), jax.random.key(0)
            )
            shapes = {n: tuple(o.shape) for n, o in zip(self.argnames, out, strict=True)}
            cached = derive(self.expression, wrt=self.wrt_name, shapes=shapes)
            if not isinstance(cached, Derivation):  # a Jacobian: the expression is not scalar
                raise ValueError(
                    f"identity {self.name!r}: expression {self.expression!r} is not scalar"
                )
            self.__dict__["_derivation"] = cached
        return cached

    def derived_text(self, latex: bool = False) -> str:
        """The statement ``d f/dX = ...`` printed by derive from ``expression``."""
        d = self.derivation()
        w = self.wrt_name
        if latex:
            return rf"\frac{{\partial\,{d.objective_latex}}}{{\partial {w}}} = {d.latex}"
        return f"d {d.objective_text}/d{w} = {d.gradient}"

    def check_hvp(
        self,
        key: jax.Array | int = 0,
        dtype=jnp.float64,
        n: int | None = None,
        hvp: Callable[..., jax.Array] | None = None,
        **kwargs,
    ) -> HVPReport:
        """Check this identity's closed-form HVP (or a replacement ``hvp``) on sampled inputs.

        Raises:
            ValueError: the identity has no HVP and none is given.
        """
        candidate = self.hvp if hvp is None else hvp
        if candidate is None:
            raise ValueError(f"identity {self.name!r} has no closed-form hvp; pass hvp=")
        args = self.arguments(key, dtype, n)
        return check_hvp(
            self.objective, candidate, *args, argnum=self.wrt, argnames=self.argnames, **kwargs
        )

    def as_function(self, **kwargs) -> Callable[..., jax.Array]:
        """The objective with ``jax.grad`` w.r.t. ``args[wrt]`` running this closed form.

        With a closed-form ``hvp`` second derivatives (``jax.hessian``, ``jax.jvp`` of
        ``jax.grad``) run it too.

        ``tracegrad.with_grad(self.objective, self.gradient, argnums=self.wrt, ...)``; keyword
        arguments (``check=``, ``on_mismatch=``, ...) are passed on.
        """
        kwargs.setdefault("argnames", self.argnames)
        kwargs.setdefault("name", self.name)
        if self.hvp is not None:
            kwargs.setdefault("hvp", self.hvp)
        return with_grad(self.objective, self.gradient, argnums=self.wrt, **kwargs)

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, source={self.source!r}, wrt={self.wrt_name!r})"
