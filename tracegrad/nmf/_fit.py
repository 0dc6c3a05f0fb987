"""``fit``'s pipeline: check everything on the host, then one compiled program (``_execute``).

``fit_replicates`` (and ``transform``) return the fields of an ``NMFResult``, not one: the
result's methods use this module (``NMFResult.transform``) and ``_model`` (which uses
``transform``), so ``NMFResult`` and ``fit`` sit above both, in ``_result``.

The checks (``_checks``) read concrete inputs in NumPy or plain Python, so no
eager JAX operation (each of which would compile a small program of its own) runs before the
fit.  The fit itself -- keys, initial factors, rescaling, the loop (``_loop``), unscaling and
the result's shapes -- is one ``jax.jit`` program per ``_execute.Plan``; ``max_iter``,
``tol``, the penalties and the key are traced values of it, so changing them compiles
nothing.  On a multi-core CPU a batch runs as concurrent worker groups of that same program
(``_workers``); on a mesh, as ``_sharding``'s program.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._utils import is_concrete, shape_str
from . import _execute, _progress
from ._checks import (
    NONFINITE,
    check_data_host,
    check_factors_host,
    check_key,
    check_mesh_axis,
    check_options,
    check_rank,
    check_transform_data,
    host_key,
    resolve_dtype,
    scalar_options,
)
from ._constants import CHECK_EVERY
from ._execute import Plan
from ._layout import plan, workers
from ._loop import history_layout
from ._regularization import penalty
from ._scale import range_exponent_host, warn_unscaled
from ._sharding import check_mesh, make_spec, place
from ._solvers import AUTO, auto_solver, check_solver, resolve_solver, split_settings
from ._workers import GroupProgress, cpu_workers, run_groups


def fit_replicates(
    V, rank, *, loss, max_iter, tol, init, W0, H0, key, alpha_W, alpha_H, l1_ratio, mask, dtype,
    progress, mesh, mesh_axis, solver, update_W, update_H, ranks=None, chunk=None,
) -> dict[str, Any]:  # fmt: skip
    """``fit``'s checks and fit, returning the ``NMFResult`` fields by name; plus what
    ``select_rank`` needs: with ``ranks`` (an int array, one rank per
    problem of the key batch ``key``), every replicate starts from ``init="random"`` for its
    own rank padded to ``rank`` (``_execute.padded_init``); ``chunk`` caps the problems of one
    program call (a memory budget: the calls then run in turn, as worker groups)."""
    max_iter, tol, alpha_W, alpha_H, l1_ratio = scalar_options(
        max_iter, tol, alpha_W, alpha_H, l1_ratio
    )
    loss_obj = check_options(loss, init, max_iter, tol, alpha_W, alpha_H, l1_ratio)
    if isinstance(solver, str) and solver == AUTO:
        solver = auto_solver(loss_obj.beta, mask is not None, several_problems(V, W0, H0, key))
    solver_obj = resolve_solver(solver, auto=True)
    check_solver(solver_obj, loss_obj, mask is not None)
    for name, flag in (("update_W", update_W), ("update_H", update_H)):
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{name} must be a bool, got {flag!r}")
    if not (update_W or update_H):
        raise ValueError("update_W=False and update_H=False leave nothing to fit")
    if not update_H and H0 is None:
        raise ValueError("update_H=False needs H0, the fixed H (scikit-learn's transform)")
    if not update_W and W0 is None:
        raise ValueError("update_W=False needs W0, the fixed W")
    dt = resolve_dtype(V, dtype)
    check_mesh_axis(mesh, mesh_axis)
    check_key(key, make=False)  # checked even where W0/H0 make it unused
    placement = None if mesh is None else check_mesh(mesh, mesh_axis)
    need_x64 = dt == np.float64 and not jax.config.read("jax_enable_x64")
    with jax.enable_x64(True) if need_x64 else contextlib.nullcontext():
        return _fit(
            V,
            rank,
            loss_obj,
            max_iter,
            tol,
            init,
            W0,
            H0,
            key,
            (alpha_W, alpha_H, l1_ratio),
            mask,
            dt,
            progress,
            placement,
            (solver_obj, bool(update_W), bool(update_H)),
            ranks,
            chunk,
        )


def several_problems(V, W0, H0, key) -> bool:
    """Whether a fit of these arguments solves several problems in one call (``solver="auto"``
    reads it): a batched ``V``, ``W0`` or ``H0``, or a batch of keys (replicates); decided from
    shapes alone, before the checks that reject what does not fit."""
    if any(np.ndim(a) > 2 for a in (V, W0, H0) if a is not None):
        return True
    if key is None or isinstance(key, int | np.integer):
        return False
    dtype = getattr(key, "dtype", None)
    typed = dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)
    return np.ndim(key) > (0 if typed else 1)


def transform(V_new, H, *, loss, solver, max_iter, tol, alpha_W, alpha_H, l1_ratio, mask=None):
    """``W`` for new data ``V_new`` with ``H`` fixed, scikit-learn's ``NMF.transform``:
    ``fit(V_new, K, H0=H, update_H=False)`` in ``H``'s dtype, after checking that ``V_new``
    has ``H``'s columns (``NMFResult.transform`` and ``NMF.transform``)."""
    check_transform_data(V_new, H)
    fields = fit_replicates(
        V_new, H.shape[-2], loss=loss, solver=solver, max_iter=max_iter, tol=tol, init="random",
        W0=None, H0=H, key=None, update_W=True, update_H=False, alpha_W=alpha_W,
        alpha_H=alpha_H, l1_ratio=l1_ratio, mask=mask, dtype=H.dtype, progress=None, mesh=None,
        mesh_axis=None,
    )  # fmt: skip
    return fields["W"]


def _check_positive(V, mask, loss) -> None:
    """beta <= 0 (Itakura-Saito and below) with a zero in ``V``: refuse, as scikit-learn."""
    if not loss.needs_positive_data or not is_concrete(V):
        return
    v = np.asarray(V)
    zero = v == 0 if mask is None else (v == 0) & (np.asarray(mask) != 0)
    if zero.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(zero)), v.shape))
        raise ValueError(
            f"loss={loss.name!r} (beta = {loss.beta:g} <= 0) needs V > 0, but V contains "
            f"{int(zero.sum())} zeros (first at index {idx}): the divergence and its updates "
            f"diverge there. Add a small positive value to V, or use a beta > 0"
        )


def equal_groups(n: int, most: int) -> int:
    """The size of the fewest equal groups of at most ``most`` (>= 1) of ``n`` problems: one
    compiled program serves them all (the last group is clamped or padded, never smaller)."""
    return -(-n // -(-n // max(1, most)))


def _batch(V, factor, keys, kind: str, custom: bool) -> tuple[tuple[int, ...], bool]:
    """The result's batch shape and whether ``keys`` is a batch of keys (one per problem);
    ``factor``: a given initial factor (its batch axes count when ``V`` has none)."""
    v_batch = tuple(np.shape(V)[:-2])
    if custom:
        return v_batch or tuple(np.shape(factor)[:-2]), False
    k_batch = tuple(np.shape(keys)[:-1] if kind == "raw" else np.shape(keys))
    if not k_batch:
        return v_batch, False
    if not v_batch or k_batch == v_batch:
        return k_batch, True
    raise ValueError(
        f"key batch shape {shape_str(k_batch)} does not fit V of shape "
        f"{shape_str(np.shape(V))}: give one key, one key per problem (shape "
        f"{shape_str(v_batch)}), or a batch of keys with an unbatched V for replicates"
    )


def _history(history, max_iter: int) -> tuple:
    """The first ``history_layout(max_iter)`` entries of the program's fixed-length record,
    taken on the host (slicing a device array eagerly would compile a program), and the
    iteration of each entry."""
    stride, entries = history_layout(max_iter)
    iterations = np.arange(entries, dtype=np.int32) * (CHECK_EVERY * stride)
    shape = tuple(history.shape[:-1]) + (entries,)
    if not is_concrete(history):  # fit under a user's jit
        return history[..., :entries], jnp.broadcast_to(iterations, shape)
    history = np.asarray(history)[..., :entries]
    return jax.device_put(history), jax.device_put(np.broadcast_to(iterations, shape).copy())


def _fit(
    V, rank, loss, max_iter, tol, init, W0, H0, key, reg, mask, dt, progress, mesh, how,
    ranks=None, chunk=None,
) -> dict[str, Any]:  # fmt: skip
    """``fit`` after the option checks, with x64 in force when ``dt`` is float64: the
    ``NMFResult`` fields by name.

    ``mesh`` is None or ``check_mesh``'s ``(mesh, axis)``.
    """
    alpha_W, alpha_H, l1_ratio = reg
    solver, update_W, update_H = how
    V, mask, v_max = check_data_host(V, mask, dt)
    traced = v_max is None
    _check_positive(V, mask, loss)
    custom = W0 is not None or H0 is not None
    rank = check_rank(rank, np.shape(V), init, custom)
    m, n = np.shape(V)[-2:]
    start_W = W0 is None and not update_H  # the free factor starts as scikit-learn's
    start_H = H0 is None and not update_W
    if start_W or start_H:  # the free factor, checked against a placeholder's shape
        given = H0 if start_W else W0
        assert given is not None  # fit refuses update_H=False without H0, and so on
        free = (m, rank) if start_W else (rank, n)
        placeholder = np.ones(tuple(np.shape(given)[:-2]) + free, dt)
        pair = (placeholder, given) if start_W else (given, placeholder)
        W0, H0 = check_factors_host(*pair, np.shape(V), rank, dt)
        W0, H0 = (None, H0) if start_W else (W0, None)
    else:
        W0, H0 = check_factors_host(W0, H0, np.shape(V), rank, dt)
    if custom:
        traced = traced or not all(is_concrete(x) for x in (W0, H0) if x is not None)
    kind, key_arr = ("none", None) if custom else host_key(key)
    batch, key_batched = _batch(V, W0 if W0 is not None else H0, key_arr, kind, custom)
    B = math.prod(batch)
    v_batched = len(np.shape(V)) > 2
    beta = loss.beta
    k = 0 if traced else range_exponent_host(v_max, dt, beta, m * n)
    pen = penalty(alpha_W, alpha_H, l1_ratio, m, n)
    pen = jax.tree.map(lambda w: np.asarray(w, dt), pen)
    fn = _progress.resolve(progress)
    last = [0]  # the last ``done`` reported, so the closing report never goes backwards

    def report(done, loss_value):
        assert fn is not None  # registered only when there is a callback
        last[0] = max(last[0], done)
        fn(done, loss_value * 2.0 ** (k * beta))  # in V's units

    n_workers = 1
    if mesh is None and not traced and solver.worker_threads:
        n_workers = workers(B, m, n, rank, jax.default_backend(), cpu_workers())
    size = equal_groups(B, -(-B // n_workers) if chunk is None else min(-(-B // n_workers), chunk))
    n_groups = -(-B // size)
    static_solver, settings = split_settings(solver, dt)  # e.g. rho: a value, not the plan
    plan_ = Plan(
        dtype=np.dtype(dt).name, rank=rank, init="padded" if ranks is not None else init,
        loss=loss, solver=static_solver,
        update_W=update_W, update_H=update_H, custom=custom, start_W=start_W, start_H=start_H,
        batch=batch, v_batched=v_batched, key_kind=kind, key_batched=key_batched,
        group=size if n_groups > 1 else B, with_progress=fn is not None, traced=traced,
    )  # fmt: skip
    scalars = (
        np.asarray(k, np.int32),
        pen,
        settings,
        np.asarray(tol, dt),
        np.asarray(max_iter, np.int32),
    )
    tokens: list[int] = []
    try:
        if fn is not None:
            if n_groups > 1:
                combined = GroupProgress([min(size, B - i * size) for i in range(n_groups)], report)
                tokens = [_progress.register(combined.reporter(i)) for i in range(n_groups)]
            else:
                tokens = [_progress.register(report)]
        else:
            tokens = [0] * n_groups
        ranks = None if ranks is None else np.asarray(ranks, np.int32)
        parts = [
            (V, mask, W0, H0, key_arr, ranks, *scalars, np.asarray(t, np.int32),
             np.asarray(i * size, np.int32))
            for i, t in enumerate(tokens)
        ]  # fmt: skip
        if mesh is not None:
            outs = [_mesh_fit(part, plan_, mesh) for part in parts]
        else:
            outs = run_groups(_execute.program, parts, dict(plan=plan_), n_workers)
        outs = outs[0] if n_groups == 1 else _join_groups(outs, B, size, batch)
        W, H, history, n_iter, converged, final, scaled, finite = outs
        if fn is not None and is_concrete(final):
            jax.block_until_ready(final)
            jax.effects_barrier()
            fn(max(last[0], int(np.max(np.asarray(n_iter)))), float(np.mean(np.asarray(final))))
    except Exception:
        _progress.raise_callback_error(fn)  # the callback's own exception, if it raised
        raise
    finally:
        for tok in tokens:
            if tok:
                _progress.unregister(tok)
    if is_concrete(finite) and not bool(np.asarray(finite)):
        raise ValueError(NONFINITE)
    if k != 0 and is_concrete(final):
        warn_unscaled(np.asarray(scaled), np.asarray(final), dt)
    history, iterations = _history(history, max_iter)
    return dict(
        W=W,
        H=H,
        loss_history=history,
        loss_iterations=iterations,
        n_iter=n_iter,
        converged=converged,
        loss=final,
        loss_type=loss.name,
        solver=solver.name,
        max_iter=int(max_iter),
        tol=float(tol),
        alpha_W=float(alpha_W),
        alpha_H=alpha_H if isinstance(alpha_H, str) else float(alpha_H),
        l1_ratio=float(l1_ratio),
    )


def _join_groups(outs: list[tuple], B: int, size: int, batch: tuple[int, ...]) -> tuple:
    """The worker groups' results as one batch, joined on the host (no compiled op).

    Group ``i`` covers problems ``[i size, (i + 1) size)``, the last one clamped to end at
    ``B``: its first problems repeat its neighbour's and are dropped.
    """
    *fields, finite = zip(*outs, strict=True)
    joined = []
    for parts in fields:
        arrays = [np.asarray(p) for p in parts]
        last_start = min((len(arrays) - 1) * size, B - size)
        arrays[-1] = arrays[-1][(len(arrays) - 1) * size - last_start :]
        x = np.concatenate(arrays, axis=0)
        joined.append(jax.device_put(x.reshape(batch + x.shape[1:])))
    ok = all(bool(np.asarray(f)) for f in finite)
    return (*joined, np.asarray(ok))


def _mesh_fit(part: tuple, plan_: Plan, mesh) -> tuple:
    """The fit laid out over a mesh (``_sharding``): one program, the arrays placed first."""
    V, mask, *rest = part
    mesh_, axis = mesh  # check_mesh's (mesh, axis)
    B = plan_.group
    m, n = np.shape(V)[-2:]
    spec = make_spec(mesh_, axis, plan_.v_batched, B, m)
    if B == plan_.n_problems:
        vs = spec.v_sharding(plan_.v_batched)
        V, mask = place(V, vs, spec), place(mask, vs, spec)
    transposed = plan(
        plan_.v_batched, B, m // spec.n if spec.mode == "rows" else m, n,
        np.dtype(plan_.dtype).itemsize, plan_.loss, mask is not None, jax.default_backend(),
    ).transposed  # fmt: skip
    return _execute.mesh_program(V, mask, *rest, plan=plan_, spec=spec, transposed=transposed)
