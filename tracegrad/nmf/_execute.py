"""A checked fit as one compiled program: ``Plan`` (what selects a program) -> ``run``.

``fit`` checks everything a user passes on the host, in NumPy or plain Python (``_checks``),
and hands this module a frozen ``Plan`` and the arrays.  Everything else happens inside one
``jax.jit`` program per plan: the dtype cast and the masking of ``V``, the batch reshapes, the
PRNG keys (made from the raw key data the host computed, split per problem), the initial
factors, the exact power-of-four rescaling of out-of-range data (``_scale``; ``k = 0``
multiplies by exactly 1, so in-range data gives the bits it always did), the loop
(``_loop.fit_loop``, in cache-sized chunks where ``_layout`` says so), the check that the
results are finite (a flag the host raises on), the unscaling and the result's batch shape.

What is traced, and so compiles nothing new when it changes: the data and initial factors,
the key, the rescaling exponent, the penalty weights, the solver's float settings
(``"admm"``'s ``rho``), ``tol``, ``max_iter``, the progress token and the worker group's
offset.  What selects a program: shapes and dtypes, and the ``Plan`` (loss, solver, rank,
init scheme, which factors are updated, batch layout, whether progress is reported).

Worker threads (``_workers``) are an execution plan of the same program: each group of
``Plan.group`` problems starts at a traced ``offset`` (the last group is clamped so that it
ends at the last problem, recomputing a few problems of its neighbour), so every group runs
the same compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import NONFINITE, guard_traced_data
from ._init import initial_factors, observed_mean
from ._layout import plan as layout_plan
from ._loop import fit_loop
from ._losses import AbstractLoss
from ._scale import pow2, rescale, traced_range_exponent, unscale_losses
from ._sharding import sharded_fit_loop
from ._solvers import AbstractSolver, merge_settings


@dataclasses.dataclass(frozen=True)
class Plan:
    """What selects a compiled fit program (hashable; everything else is a traced value).

    Attributes:
        dtype: the computation dtype's name.
        rank: ``K``.  init: the initialisation scheme (unused when ``custom``).
        loss, solver: the loss and solver objects.
        update_W, update_H: which factors the fit updates.
        custom: ``W0``/``H0`` given (``start_W``/``start_H``: that one is computed instead).
        batch: the batch shape of the result.  v_batched: ``V`` has batch axes.
        key_kind: ``"raw"`` (uint32 key data), ``"typed"`` (a key array) or ``"none"``.
        key_batched: the key argument is a batch of keys (one per problem).
        group: problems per program call (``B`` without worker threads).
        with_progress: the loop reports progress through ``jax.debug.callback``.
        traced: the data is traced (``fit`` under a user's ``jit``): its values are checked
            and its rescaling exponent computed inside the program.
    """

    dtype: str
    rank: int
    init: str
    loss: AbstractLoss
    solver: AbstractSolver
    update_W: bool
    update_H: bool
    custom: bool
    start_W: bool
    start_H: bool
    batch: tuple[int, ...]
    v_batched: bool
    key_kind: str
    key_batched: bool
    group: int
    with_progress: bool
    traced: bool

    @property
    def n_problems(self) -> int:
        return math.prod(self.batch)


def _keys(key, plan: Plan) -> jax.Array:
    """One typed key per problem, ``(B,)``, as ``jax.random.split`` of a single key gives."""
    keys = key if plan.key_kind == "typed" else jax.random.wrap_key_data(key)
    B = plan.n_problems
    if not plan.key_batched:
        return jax.random.split(keys, B) if plan.batch else keys[None]
    return keys.reshape(-1)


def _start_factor(V, mask, shape, solver, dt):
    """The free factor's start when the other is fixed and not given (scikit-learn's
    ``_check_w_h``): zeros for coordinate descent, ``sqrt(mean V / K)`` everywhere for MU."""
    if solver.zero_W_start:
        return jnp.zeros(shape, dt)
    avg = jnp.sqrt(observed_mean(V, mask) / shape[-1])
    return jnp.broadcast_to(avg.astype(dt)[..., None, None], shape)


def _loop(V, mask, W0, H0, pen, tol, max_iter, token, solver, plan: Plan):
    """The loop over all problems, laid out as ``_layout.plan`` decides (same values).

    Batches that ``plan`` chunks run as a ``lax.scan`` over chunks of ``chunk`` problems, each
    a ``fit_loop`` of its own; a remainder is padded to a whole chunk with copies of the last
    problem (their results dropped), so that one traced loop serves every chunk.
    """
    B, m, _ = W0.shape
    n = H0.shape[-1]
    layout = layout_plan(
        V.ndim == 3, B, m, n, V.dtype.itemsize, plan.loss, mask is not None, jax.default_backend()
    )
    kw: dict[str, Any] = dict(loss=plan.loss, solver=solver, transposed=layout.transposed)
    kw.update(update_W=plan.update_W, update_H=plan.update_H)
    kw["progress_token"] = token if plan.with_progress else None
    if layout.chunk >= B:
        return fit_loop(V, W0, H0, pen, tol, max_iter, mask=mask, **kw)

    c = layout.chunk
    parts = -(-B // c)
    pad = parts * c - B

    def split(x):
        if x is None:
            return None
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])
        return x.reshape((parts, c) + x.shape[1:])

    def one(part, xs):
        v, msk, w, h = xs
        out = fit_loop(
            v, w, h, pen, tol, max_iter, mask=msk, progress_part=part, progress_parts=parts, **kw
        )
        return part + 1, out

    _, outs = jax.lax.scan(one, 0, (split(V), split(mask), split(W0), split(H0)))
    return jax.tree.map(lambda x: x.reshape((parts * c,) + x.shape[2:])[:B], outs)


def padded_init(mean, keys, ranks, m: int, n: int, kmax: int, dtype):
    """scikit-learn's random init ``sqrt(mean / K) |N(0, 1)|`` for each replicate's own
    ``K`` (``ranks``), padded to ``kmax`` with zero columns of ``W`` / zero rows of ``H``
    (``select_rank``).  Each replicate's draw depends only on its key and ``kmax``."""

    def one(key, k):
        avg = jnp.sqrt(mean / k).astype(dtype)
        k_h, k_w = jax.random.split(key)
        H = avg * jnp.abs(jax.random.normal(k_h, (kmax, n), dtype))
        W = avg * jnp.abs(jax.random.normal(k_w, (m, kmax), dtype))
        live = jnp.arange(kmax) < k
        zero = jnp.zeros((), dtype)
        return jnp.where(live[None, :], W, zero), jnp.where(live[:, None], H, zero)

    return jax.vmap(one)(keys, ranks)


def _prepare(V, mask, W0, H0, key, ranks, k, pen, offset, plan: Plan):
    """The program's prelude: ``(V, mask, W0, H0, k, pen)`` of this group, rescaled, with
    the initial factors made (``init="padded"``: ``padded_init`` with ``ranks``)."""
    dt = np.dtype(plan.dtype)
    if plan.traced:
        V, mask = guard_traced_data("V", V, mask)
        if W0 is not None:
            W0, _ = guard_traced_data("W0", W0)
        if H0 is not None:
            H0, _ = guard_traced_data("H0", H0)
    V = jnp.asarray(V, dt)
    if mask is not None:
        mask = jnp.asarray(mask, dt)
        V = jnp.where(mask != 0, V, jnp.zeros((), dt))
    m, n = V.shape[-2:]
    rank, B, g = plan.rank, plan.n_problems, plan.group
    if plan.v_batched:
        V = V.reshape((B, m, n))
        mask = None if mask is None else mask.reshape((B, m, n))
    beta = plan.loss.beta
    k = traced_range_exponent(V, dt, beta) if plan.traced else jnp.asarray(k, jnp.int32)

    def group(x):  # this worker group's problems (the whole batch without workers)
        if g == B or x is None:
            return x
        start = jnp.minimum(offset, B - g)
        return jax.lax.dynamic_slice_in_dim(x, start, g, axis=0)

    keys = None
    if plan.custom:
        if plan.start_W:
            W0 = _start_factor(V, mask, (B, m, rank), plan.solver, dt)
        else:
            W0 = jnp.broadcast_to(jnp.asarray(W0, dt), plan.batch + (m, rank)).reshape((B, m, rank))
        if plan.start_H:
            H0 = jnp.swapaxes(_start_factor(V, mask, (B, n, rank), plan.solver, dt), -1, -2)
        else:
            H0 = jnp.broadcast_to(jnp.asarray(H0, dt), plan.batch + (rank, n)).reshape((B, rank, n))
        W0, H0 = group(W0), group(H0)
    else:
        keys = group(_keys(key, plan))
    if plan.v_batched:
        V, mask = group(V), group(mask)
    V, W0, H0, pen = rescale(k, beta, dt, V, W0, H0, pen)
    if plan.init == "padded":  # select_rank's replicates, each of its own rank
        assert keys is not None and not plan.v_batched
        mean = observed_mean(V, mask)
        W0, H0 = padded_init(mean, keys, group(ranks), m, n, rank, dt)
    elif keys is not None:
        v_axis = 0 if V.ndim == 3 else None
        W0, H0 = jax.vmap(
            lambda v, msk, key: initial_factors(v, rank, plan.init, key, msk),
            in_axes=(v_axis, v_axis, 0),
        )(V, mask, keys)
    return V, mask, W0, H0, k, pen


def _finish(outs, k, plan: Plan, whole: bool):
    """The program's postlude: the finite flag, the results in ``V``'s units and shape."""
    dt = np.dtype(plan.dtype)
    W, H, history, n_iter, converged, final = outs
    finite = jnp.all(jnp.isfinite(W)) & jnp.all(jnp.isfinite(H)) & jnp.all(jnp.isfinite(final))
    if plan.traced:
        W = eqx.error_if(W, ~finite, NONFINITE)
    up = pow2(k, dt)
    W, H = W * up, H * up
    scaled = final
    history, final = unscale_losses(k, plan.loss.beta, dt, history, final)
    if whole:
        W = W.reshape(plan.batch + W.shape[1:])
        H = H.reshape(plan.batch + H.shape[1:])
        history = history.reshape(plan.batch + history.shape[1:])
        n_iter, converged, final, scaled = (
            x.reshape(plan.batch) for x in (n_iter, converged, final, scaled)
        )
    return W, H, history, n_iter, converged, final, scaled, finite


@functools.partial(jax.jit, static_argnames=("plan",))
def program(
    V, mask, W0, H0, key, ranks, k, pen, settings, tol, max_iter, token, offset, *, plan: Plan
):
    """The whole fit of ``plan.group`` problems from ``offset`` on (module docstring).

    Returns ``(W, H, history, n_iter, converged, loss, scaled_loss, finite)``: batched as
    ``plan.batch`` when the group is the whole batch, else over the group's ``(group,)``
    problems; the history is ``(..., HISTORY_CAPACITY)`` (``_loop``); ``scaled_loss`` is the
    loss before unscaling (for the host's warnings); ``finite`` says all results are finite
    (under a user's ``jit``, ``equinox.error_if`` raises instead).  ``settings``: the
    solver's float settings, taken out of ``plan.solver`` (``_solvers.split_settings``).
    """
    V, mask, W0, H0, k, pen = _prepare(V, mask, W0, H0, key, ranks, k, pen, offset, plan)
    tol = jnp.asarray(tol, V.dtype)
    solver = merge_settings(plan.solver, settings)
    outs = _loop(V, mask, W0, H0, pen, tol, max_iter, token, solver, plan)
    return _finish(outs, k, plan, plan.group == plan.n_problems)


@functools.partial(jax.jit, static_argnames=("plan", "spec", "transposed"))
def mesh_program(
    V, mask, W0, H0, key, ranks, k, pen, settings, tol, max_iter, token, offset, *, plan, spec,
    transposed,
):  # fmt: skip
    """``program`` laid out over ``spec.mesh`` (``_sharding.sharded_fit_loop``)."""
    V, mask, W0, H0, k, pen = _prepare(V, mask, W0, H0, key, ranks, k, pen, offset, plan)
    tol = jnp.asarray(tol, V.dtype)
    solver = merge_settings(plan.solver, settings)
    kw = dict(loss=plan.loss, solver=solver, update_W=plan.update_W, update_H=plan.update_H)
    outs = sharded_fit_loop(
        V, mask, W0, H0, pen, tol, max_iter, token if plan.with_progress else None,
        spec=spec, transposed=transposed, **kw,
    )  # fmt: skip
    return _finish(outs, k, plan, plan.group == plan.n_problems)
