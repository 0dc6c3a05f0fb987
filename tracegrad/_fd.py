"""Central finite differences in float64, the checker's autodiff-independent reference.

The stencil is the fourth-order central difference

    f'(x) ~ [8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))] / (12 h),

whose truncation error is O(h^4) and rounding error O(eps |f| / h).  With
``h_i = 1e-3 * max(|x_i|, 1e-2 * rms(x))`` both stay near 1e-10 relative for the smooth
objectives of the registry, and the relative step keeps ``x - 2h`` inside a positive domain
(a log or an NMF factor) whenever ``x`` is.  The step is rounded to a representable difference,
``h = (x + h) - x``, so the divisor is exactly the perturbation applied.

Callers enter ``jax.enable_x64(True)`` themselves; these functions assume float64 inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._reference import reference_jit

_REL_STEP = 1e-3
_FLOOR = 1e-2
_BATCH = 64  # perturbed copies evaluated per vmapped batch


def _steps(x: jax.Array) -> jax.Array:
    flat = x.ravel()
    rms = jnp.sqrt(jnp.mean(flat * flat))
    floor = jnp.where(rms > 0, _FLOOR * rms, 1.0)
    h = _REL_STEP * jnp.maximum(jnp.abs(flat), floor)
    return (flat + h) - flat


def _replace(args: tuple, argnum: int, value) -> tuple:
    return args[:argnum] + (value,) + args[argnum + 1 :]


def fd_gradient_body(f: Callable, argnum: int, *args) -> jax.Array:
    """Full finite-difference gradient of scalar ``f`` w.r.t. ``args[argnum]`` (one entry each);
    traced inside a caller's program (``fd_gradient`` compiles it alone)."""
    x = args[argnum]
    flat = x.ravel()
    h = _steps(x)

    def entry(i):
        def at(t):
            return f(*_replace(args, argnum, flat.at[i].add(t * h[i]).reshape(x.shape)))

        return (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * h[i])

    grads = jax.lax.map(entry, jnp.arange(flat.size), batch_size=min(flat.size, _BATCH))
    return grads.reshape(x.shape)


fd_gradient = reference_jit(fd_gradient_body, static_argnums=(0, 1))


def fd_directional_body(f: Callable, argnum: int, directions: jax.Array, *args) -> jax.Array:
    """Finite-difference directional derivatives of ``f`` along each of ``directions``.

    ``directions`` has shape ``(k, *x.shape)``; returns ``(k,)``.  Traced inside a caller's
    program (``fd_directional`` compiles it alone).
    """
    x = args[argnum]
    x_rms = jnp.sqrt(jnp.mean(x * x))
    x_scale = jnp.where(x_rms > 0, x_rms, 1.0)

    def one(v):
        v_rms = jnp.sqrt(jnp.mean(v * v))
        t = _REL_STEP * _FLOOR * x_scale / jnp.where(v_rms > 0, v_rms, 1.0)

        def at(s):
            return f(*_replace(args, argnum, x + (s * t) * v))

        return (8.0 * (at(1.0) - at(-1.0)) - (at(2.0) - at(-2.0))) / (12.0 * t)

    return jax.lax.map(one, directions)


fd_directional = reference_jit(fd_directional_body, static_argnums=(0, 1))
