"""``Identity``: one hand-derived gradient with its objective, sampler and source."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from ._check import TRACING_ERRORS, check_grad
from ._report import GradReport


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
        formula: plain-text statement, ``"tr(A X B) -> A^T B^T"``.
        latex: the same in LaTeX.
        terms: optional function returning the per-appearance terms (``{label: array}``) whose
            sum is the gradient; lets the checker name a missing or doubled term.
        optimum: optional function mapping sampled arguments to arguments at a stationary point
            of the objective in ``args[wrt]`` (the Kalman gain, the Gaussian MLE, the normal
            equations); the closed form must vanish there.
        module: the module that registered it (``tracegrad check --module`` selects by this).
    """

    name: str
    source: str
    objective: Callable[..., jax.Array]
    gradient: Callable[..., jax.Array]
    sample: Sampler
    argnames: tuple[str, ...]
    wrt: int = 0
    formula: str = ""
    latex: str = ""
    terms: Callable[..., Mapping[str, jax.Array]] | None = None
    optimum: Callable[..., tuple] | None = None
    module: str = ""

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError("an identity needs a non-empty string name")
        for field in ("objective", "gradient", "sample"):
            if not callable(getattr(self, field)):
                raise TypeError(f"identity {self.name!r}: {field} must be callable")
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

    def as_function(self, **kwargs) -> Callable[..., jax.Array]:
        """The objective with ``jax.grad`` w.r.t. ``args[wrt]`` running this closed form.

        ``tracegrad.with_grad(self.objective, self.gradient, argnums=self.wrt, ...)``; keyword
        arguments (``check=``, ``on_mismatch=``, ...) are passed on.
        """
        from ._bridge import with_grad  # lazy: _bridge imports the checker, which imports us

        kwargs.setdefault("argnames", self.argnames)
        kwargs.setdefault("name", self.name)
        return with_grad(self.objective, self.gradient, argnums=self.wrt, **kwargs)

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, source={self.source!r}, wrt={self.wrt_name!r})"
