"""A second, careful finite-difference reference for the derive check, near domain edges.

``check_grad``'s ``fd64`` reference takes one fourth-order central stencil per entry with the
step ``h = 1e-3 max(|x_i|, 1e-2 rms(x))``.  Two kinds of objective defeat it while the derived
gradient is right (and ``jax.grad`` and ``jax.jvp`` agree with it):

* near the edge of the domain (``log`` of a small positive value, a nearly singular matrix
  under ``logdet``) the stencil's ``x +- 2h`` steps outside it, or where the higher
  derivatives blow up;
* a high-degree polynomial (``X.^200``) whose fifth derivative makes the ``O(h^4)``
  truncation error exceed the ``1e-6`` tolerance.

``careful_fd`` re-estimates each derivative at the steps ``h, h/4, ..., h/4^7``, with the central
stencil where all its points are finite and otherwise the one-sided fourth-order stencil

    f'(x) ~ (-25 f(x) + 48 f(x+h) - 36 f(x+2h) + 16 f(x+3h) - 3 f(x+4h)) / (12 h)

(or its mirror with ``-h``), and keeps, per entry, the estimate of the pair of consecutive
steps that agree best: an estimate of its own error that needs no knowledge of the domain.
The derive check consults it only when ``fd64`` alone failed.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._check.report import ReferenceResult
from .._check.tolerances import FD_RTOL_FLOOR

_REL_STEP = 1e-3
_FLOOR = 1e-2
_HALVINGS = 8  # steps h, h/4, ..., h/4^7
_COORDINATES_MAX = 64  # beyond: random directions
_DIRECTIONS = 8


def _estimates(g: jax.Array, t: jax.Array) -> jax.Array:
    """Derivative estimates from ``g[k] = f(x + (k - 4) t v)``, ``k = 0..8``: central where
    its points are finite, else forward, else backward, else NaN."""
    fin = jnp.isfinite(g)
    central = (8.0 * (g[5] - g[3]) - (g[6] - g[2])) / (12.0 * t)
    forward = (-25.0 * g[4] + 48.0 * g[5] - 36.0 * g[6] + 16.0 * g[7] - 3.0 * g[8]) / (12.0 * t)
    backward = -(-25.0 * g[4] + 48.0 * g[3] - 36.0 * g[2] + 16.0 * g[1] - 3.0 * g[0]) / (12.0 * t)
    ok_c = fin[2] & fin[3] & fin[5] & fin[6]
    ok_f = fin[4] & fin[5] & fin[6] & fin[7] & fin[8]
    ok_b = fin[4] & fin[3] & fin[2] & fin[1] & fin[0]
    return jnp.where(ok_c, central, jnp.where(ok_f, forward, jnp.where(ok_b, backward, jnp.nan)))


def _directional(f: Callable, idx: int, args: tuple, directions, base_steps):
    """``(k, _HALVINGS)`` estimates of the derivative along each direction at each step."""
    x = args[idx]
    offsets = jnp.arange(-4.0, 5.0)

    def along(v, h):
        def at(s):
            return f(*args[:idx], x + s * v, *args[idx + 1 :])

        def one(j):
            t = h / (4.0**j)
            return _estimates(jax.vmap(lambda o: at(o * t))(offsets), t)

        return jax.vmap(one)(jnp.arange(_HALVINGS, dtype=x.dtype))

    return jax.vmap(along)(directions, base_steps)


def _best(estimates: np.ndarray) -> np.ndarray:
    """Per row, the estimate of the consecutive pair of steps that agree best."""
    diffs = np.abs(np.diff(estimates, axis=1))
    diffs = np.where(np.isfinite(diffs), diffs, np.inf)
    j = np.argmin(diffs, axis=1)
    rows = np.arange(estimates.shape[0])
    out = estimates[rows, j + 1]
    none = ~np.isfinite(diffs[rows, j])  # no two finite estimates: the finest finite one
    if none.any():
        for r in np.flatnonzero(none):
            finite = estimates[r][np.isfinite(estimates[r])]
            out[r] = finite[-1] if finite.size else np.nan
    return out


def careful_fd(
    f: Callable,
    candidate: np.ndarray | jax.Array,
    args: tuple,
    idx: int,
    rtol: float,
    atol: float,
) -> ReferenceResult:
    """The ``fd64`` reference recomputed with adaptive, one-sided-near-edges steps.

    Coordinates for up to ``_COORDINATES_MAX`` entries (normwise, as ``check_grad``), random
    directions beyond (each ``|<c, v> - D_v f| <= atol ||v||_1 + rtol ||g||_2 ||v||_2``).
    Arguments are float64; call inside ``jax.enable_x64(True)``.
    """
    x = np.asarray(args[idx], np.float64)
    fd_rtol = max(rtol, FD_RTOL_FLOOR)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    floor = _FLOOR * rms if rms > 0 else 1.0
    c = np.asarray(candidate, np.float64).reshape(-1)
    if x.size <= _COORDINATES_MAX:
        directions = np.eye(x.size).reshape((x.size, *x.shape))
        steps = _REL_STEP * np.maximum(np.abs(x.reshape(-1)), floor)
        kind = "every entry"
    else:
        rng = np.random.default_rng(0)
        directions = rng.standard_normal((_DIRECTIONS, *x.shape))
        steps = np.full(_DIRECTIONS, _REL_STEP * max(rms, 1.0) / np.sqrt(x.size))
        kind = f"{_DIRECTIONS} random directions"
    est = np.asarray(
        jax.jit(_directional, static_argnums=(0, 1))(
            f, idx, tuple(args), jnp.asarray(directions), jnp.asarray(steps)
        ),
        np.float64,
    )
    fd = _best(est)
    if x.size <= _COORDINATES_MAX:
        abs_err = float(np.max(np.abs(c - fd)))
        scale = float(np.max(np.abs(fd)))
        ok = bool(np.isfinite(abs_err) and abs_err <= atol + fd_rtol * scale)
    else:
        v = directions.reshape(_DIRECTIONS, -1)
        d = np.abs(v @ c - fd)
        gnorm = max(float(np.linalg.norm(c)), np.finfo(np.float64).tiny)
        bound = atol * np.abs(v).sum(axis=1) + fd_rtol * gnorm * np.linalg.norm(v, axis=1)
        abs_err = float(np.max(d))
        scale = gnorm
        ok = bool(np.all(np.isfinite(d)) and np.all(d <= bound))
    rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
    return ReferenceResult(
        "fd64",
        abs_err,
        rel,
        fd_rtol,
        ok,
        f"finite differences in float64, {kind}, steps h..h/4^7 with the best-agreeing pair "
        f"kept, one-sided where the central stencil leaves the domain",
    )
