"""Compilation of the checker's references (autodiff and finite differences).

A reference is the truth a hand-derived gradient is judged against, so it is compiled
conservatively.  On the CPU backend of jax/jaxlib 0.10.2, XLA's default YNNPACK fusion
(``xla_cpu_experimental_ynn_fusion_type``) miscompiles some reverse-mode programs: for
``f = sum(ones(q, p) * (B^T (x[:, None] * A^T)))`` (the derive engine's form of trace notes
eq. 32-34), ``jax.jit(jax.grad(f, argnums=1))`` returns NaN in float64 and values off by
~1e11 in float32 at A 64x72, B 72x80, while the same gradient without jit, or compiled with
that fusion off, is right to 1e-13.  References are therefore compiled with the fusion
disabled on CPU (``compiler_options``, per program: nothing global changes, and users' own
functions compile as they always do).  Where the option does not exist (another backend, or
a jaxlib without it) references compile with the defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

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
