"""``fit``: validate in Python, then one compiled loop over every problem and iteration.

The loop is generic over the solver (``_solvers``: each owns its step and its stop rule).  It
is a ``lax.while_loop`` over blocks of ``CHECK_EVERY`` (10) iterations, each block an inner
``fori_loop`` updating all problems at once (their factors stacked on a leading batch axis,
with the solver's per-iteration stop test after each iteration) followed by the loss record
and the solver's every-10 check, so the loop body needs no conditional; the last
``max_iter mod 10`` iterations follow the loop.  A per-problem ``done`` mask freezes a problem
that passed its test (its factors kept exactly) while the others go on; the loop ends
when all are done or ``max_iter`` is reached.  No Python loop runs over problems or iterations,
and nothing returns to the host between iterations (progress reports, when asked for, go out
through ``jax.debug.callback``).  Measured against a per-iteration ``lax.cond`` for the check,
the blocks ran 2-7% faster on both workloads of ``benchmarks/bench_nmf.py``.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validate import is_concrete, shape_str
from . import _guards, _progress
from ._constants import CHECK_EVERY
from ._contract import Data, transposed_copy
from ._init import initial_factors as init_factors  # fit checks its data itself
from ._init import observed_mean
from ._layout import plan, workers
from ._loss import sqrt_loss
from ._losses import resolve_loss
from ._regularization import Penalty, penalty
from ._result import NMFResult
from ._sharding import check_mesh, make_spec, place, sharded_loop
from ._solvers import resolve_solver
from ._validate import as_keys, check_data, check_factors, check_options, check_rank, resolve_dtype
from ._workers import GroupProgress, cpu_workers, groups, run_groups


class _State(NamedTuple):
    it: jax.Array  # iterations run by the loop so far (scalar)
    W: jax.Array  # (B, M, K)
    H: jax.Array  # (B, K, N)
    rule: Any  # the solver's stop-rule state
    carry: Any  # the solver's own state between iterations (``init_carry``; usually None)
    done: jax.Array  # (B,) stopped
    converged: jax.Array  # (B,) stopped by the test
    n_iter: jax.Array  # (B,) iterations applied to each problem
    history: jax.Array  # (B, max_iter // CHECK_EVERY + 1)


def fit_loop(
    V: jax.Array,
    W: jax.Array,
    H: jax.Array,
    pen: Penalty,
    tol: jax.Array,
    *,
    loss,
    max_iter: int,
    solver="mu",
    update_W: bool = True,
    update_H: bool = True,
    mask: jax.Array | None = None,
    progress_token: jax.Array | None = None,
    transposed: bool = False,
    progress_part: jax.Array | int = 0,
    progress_parts: int = 1,
    constrain=None,
    progress_real: int | None = None,
    real_m: int | None = None,
):
    """Run ``solver`` from ``(W, H)`` until each problem stops or ``max_iter``; jittable.

    Generic over the solver (``_solvers``): each iteration is ``solver.step`` for all problems
    followed by ``solver.stop_after_iteration``; every ``CHECK_EVERY``-th iteration the
    square-root loss is recorded and ``solver.stop_after_check`` is asked (MU's rule, as
    scikit-learn's ``_fit_multiplicative_update``: stop when ``tol > 0`` and
    ``(e_previous_check - e) / e0 < tol``; coordinate descent's: ``violation /
    violation_init <= tol`` after every iteration).

    Args:
        V: ``(B, M, N)``, or ``(M, N)`` shared by all ``B`` problems (replicates).
        W: ``(B, M, K)`` and H: ``(B, K, N)`` initial factors.
        pen: penalty weights.  tol: scalar tolerance.
        loss: loss object or name (static).  solver: solver object or name (static).
        max_iter: iteration cap (static).
        update_W, update_H: update that factor (False: keep it as given).
        mask: optional 0/1 array shaped like ``V`` (``V`` zero where it is zero).
        transposed: keep a transposed copy of ``V`` for the products over ``M`` (see
            ``_contract``); same values, different speed.
        progress_token: when given, ``_progress.emit(token, done, mean loss)`` is called at
            every check; when None the compiled loop holds no callback.
        progress_part, progress_parts: this loop is part ``progress_part`` of
            ``progress_parts`` run one after another (chunks); ``done`` is then reported as
            ``(part * max_iter + iteration) // parts``, which rises steadily to ``max_iter``.
        constrain: optional ``(W, H) -> (W, H)`` applied after every iteration (the sharded
            fit's ``with_sharding_constraint``s, so the loop keeps its layout); None adds
            nothing to the program.
        progress_real: the reported mean loss is over the first ``progress_real`` problems
            only (the sharded fit's padding copies follow them); None: all.
        real_m: the rows of the problem before the sharded fit's zero padding (None: ``M``).

    Returns:
        ``(W, H, history, n_iter, converged, final_loss)``.
    """
    loss = resolve_loss(loss)
    solver = resolve_solver(solver)
    B, m, k = W.shape
    dims = (m if real_m is None else real_m, H.shape[-1], k)
    dtype = W.dtype
    if B == 1 and V.ndim == 2:
        # One problem: give V the factors' batch axis of 1.  An unbatched V against (1, M, K)
        # factors compiles to broadcasting products that ran 1.3-1.5x slower per iteration
        # (benchmarks/RESULTS.md, "Measured design choices"); a shared V stays unbatched for
        # replicates, where it makes one tall product over all of them.
        V = V[None]
        mask = None if mask is None else mask[None]
    data = Data(V, transposed_copy(V) if transposed else None)
    e0 = sqrt_loss(V, W, H, loss, mask)
    stride = _guards.history_stride(max_iter)  # 1 unless max_iter is huge: a bounded record
    history = jnp.full((B, max_iter // CHECK_EVERY // stride + 1), jnp.nan, dtype)
    history = history.at[:, 0].set(e0)
    state = _State(
        it=jnp.zeros((), jnp.int32),
        W=W,
        H=H,
        rule=solver.stop_init(e0),
        carry=solver.init_carry(data, W, H, pen),
        done=jnp.zeros((B,), bool),
        converged=jnp.zeros((B,), bool),
        n_iter=jnp.zeros((B,), jnp.int32),
        history=history,
    )

    def iteration(_, s: _State) -> _State:
        active = ~s.done
        act = active if B > 1 or solver.stops_each_iteration else None
        W, H, stat, carry = solver.advance(
            s.carry, data, s.W, s.H, loss, pen, mask, act, update_W, update_H, dims
        )
        if constrain is not None:
            W, H = constrain(W, H)
        it = s.it + 1
        stop, rule = solver.stop_after_iteration(s.rule, stat, it, tol)
        stop = stop & active
        return s._replace(
            it=it,
            W=W,
            H=H,
            rule=rule,
            carry=carry,
            done=s.done | stop,
            converged=s.converged | stop,
            n_iter=jnp.where(active, it, s.n_iter),
        )

    def block(s: _State) -> _State:
        # CHECK_EVERY iterations, then the check: the test needs no conditional in the loop
        active = ~s.done
        s = jax.lax.fori_loop(0, CHECK_EVERY, iteration, s)
        err = sqrt_loss(V, s.W, s.H, loss, mask)
        check = s.it // CHECK_EVERY
        if stride == 1:
            history = s.history.at[:, check].set(jnp.where(active, err, jnp.nan))
        else:  # every stride-th check is recorded
            slot, keep = check // stride, check % stride == 0
            history = s.history.at[:, slot].set(jnp.where(active & keep, err, s.history[:, slot]))
        stop, rule = solver.stop_after_check(s.rule, err, tol, active & ~s.done)
        stop = stop & active & ~s.done
        if progress_token is not None:
            done = (progress_part * max_iter + s.it) // progress_parts
            shown = err if progress_real is None else err[:progress_real]
            jax.debug.callback(_progress.emit, progress_token, done, jnp.mean(shown))
        return s._replace(
            rule=rule, done=s.done | stop, converged=s.converged | stop, history=history
        )

    def more(s: _State) -> jax.Array:
        return (s.it < max_iter - max_iter % CHECK_EVERY) & ~jnp.all(s.done)

    s = jax.lax.while_loop(more, block, state)
    tail = max_iter % CHECK_EVERY
    if tail:  # the last max_iter mod 10 iterations, after the last check: no loss check
        s = jax.lax.fori_loop(0, tail, iteration, s)
    final = sqrt_loss(V, s.W, s.H, loss, mask)
    return s.W, s.H, s.history, s.n_iter, s.converged, final


@functools.partial(jax.jit, static_argnames=("rank", "init"))
def _initialize(V, mask, keys, *, rank, init):
    """Initial factors of every problem: ``(B, M, K)``, ``(B, K, N)``, one key per problem.

    Compiled apart from the loop, so that a new ``loss`` or ``max_iter`` reuses it.
    """
    v_axis = 0 if V.ndim == 3 else None
    return jax.vmap(lambda v, m, k: init_factors(v, rank, init, k, m), in_axes=(v_axis, v_axis, 0))(
        V, mask, keys
    )


@functools.partial(
    jax.jit,
    static_argnames=("loss", "max_iter", "with_progress", "solver", "update_W", "update_H"),
)
def _loop(V, mask, W0, H0, pen, tol, token, *, loss, max_iter, with_progress, solver="mu",
          update_W=True, update_H=True):  # fmt: skip
    """The compiled fit of all problems, laid out as ``_layout.plan`` decides (same values).

    Batches that ``plan`` chunks run as a ``lax.scan`` over chunks of ``chunk`` problems, each
    a ``fit_loop`` of its own; a remainder of ``B mod chunk`` problems gets one more loop.
    """
    B, m, _ = W0.shape
    n = H0.shape[-1]
    layout = plan(
        V.ndim == 3, B, m, n, V.dtype.itemsize, loss, mask is not None, jax.default_backend()
    )
    kw: dict[str, Any] = dict(loss=loss, max_iter=max_iter, transposed=layout.transposed)
    kw.update(solver=solver)
    kw.update(update_W=update_W, update_H=update_H)
    kw["progress_token"] = token if with_progress else None
    if layout.chunk >= B:
        return fit_loop(V, W0, H0, pen, tol, mask=mask, **kw)

    c = layout.chunk
    n_chunks, rest = divmod(B, c)
    parts = n_chunks + (rest > 0)

    def split(x):
        return None if x is None else x[: n_chunks * c].reshape((n_chunks, c) + x.shape[1:])

    def one(part, xs):
        v, msk, w, h = xs
        out = fit_loop(v, w, h, pen, tol, mask=msk, progress_part=part, progress_parts=parts, **kw)
        return part + 1, out

    _, outs = jax.lax.scan(one, 0, (split(V), split(mask), split(W0), split(H0)))
    outs = jax.tree.map(lambda x: x.reshape((n_chunks * c,) + x.shape[2:]), outs)
    if rest:
        sl = slice(n_chunks * c, None)
        tail = fit_loop(
            V[sl], W0[sl], H0[sl], pen, tol, mask=None if mask is None else mask[sl],
            progress_part=n_chunks, progress_parts=parts, **kw,
        )  # fmt: skip
        outs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), outs, tail)
    return outs


def _run_loop(args: tuple, kw: dict, v_batched: bool, B: int, m: int, n: int, report=None) -> tuple:
    """``_loop`` on one device: split over ``_workers`` threads where ``_layout`` says so.

    ``report``: the fit's progress function when progress is on; each concurrent group then
    reports through a token of its own into one ``GroupProgress``.
    """
    V, mask, W0, H0, pen, tol, token = args
    k = W0.shape[-1]
    n_workers = workers(B, m, n, k, jax.default_backend(), cpu_workers())
    if n_workers == 1 or not all(is_concrete(x) for x in (V, W0, H0)):
        return _loop(*args, **kw)
    slices = groups(B, n_workers)
    tokens = [token] * len(slices)
    if report is not None:
        combined = GroupProgress([g.stop - g.start for g in slices], report)
        tokens = [
            jnp.asarray(_progress.register(combined.reporter(i)), jnp.int32)
            for i in range(len(slices))
        ]
    parts = []
    for g, tok in zip(slices, tokens, strict=True):
        v = V[g] if v_batched else V
        msk = None if mask is None else (mask[g] if v_batched else mask)
        parts.append((v, msk, W0[g], H0[g], pen, tol, tok))
    try:
        return run_groups(_loop, parts, kw)
    finally:
        if report is not None:
            for tok in tokens:
                _progress.unregister(int(tok))


def fit(
    V,
    rank: int,
    *,
    loss: str | float = "frobenius",
    max_iter: int = 200,
    tol: float = 1e-4,
    init: str = "random",
    W0=None,
    H0=None,
    key=None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
    mask=None,
    dtype=None,
    progress: bool | _progress.ProgressFn | None = None,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | None = None,
    solver: str = "mu",
    update_W: bool = True,
    update_H: bool = True,
) -> NMFResult:
    """Non-negative matrix factorisation ``V ~ W H`` for any beta-divergence, batched.

    With ``solver="mu"`` (the default), the same iterates as
    ``sklearn.decomposition.NMF(solver="mu", beta_loss=beta)``: for each problem, ``W`` then
    ``H`` is multiplied by ``(grad^- / (grad^+ + l1 + l2 F))^gamma``, the split of the
    closed-form gradient of the loss (Frobenius: trace notes eq. 24; KL: eq. 27 with eq. 9;
    other betas: Févotte & Idier 2011, eq. 3.2), with scikit-learn's EPSILON clamps; every 10
    iterations the square-root loss ``e`` is computed and the problem stops once
    ``(e_previous - e) / e_initial < tol``.  ``solver="hals"`` gives the iterates and stopping
    of ``NMF(solver="cd", shuffle=False)`` (Frobenius); ``"amu"``/``"ahals"`` their
    accelerated forms (Gillis & Glineur 2012); ``"apg"`` and ``"ehals"`` alternate approximate
    NNLS solves (Nesterov steps, resp. A-HALS sweeps) with Ang & Gillis's (2019) extrapolation
    and reach a given Frobenius loss in the fewest iterations and least time
    (``benchmarks/RESULTS.md``).  The losses and solvers are the objects of
    ``LOSSES`` and ``SOLVERS`` (``docs/nmf-extending.md``).  Leading axes of ``V``
    are independent problems, all advanced together in one compiled program (a
    ``lax.while_loop``; many small problems go through it in cache-sized chunks, see
    ``_layout``), each stopping on its own.  On a multi-core CPU a batch
    is split into one contiguous group per core, each group's compiled loop run from its own
    host thread (``_workers``: XLA leaves most cores idle on small matmuls).  The
    split follows the core count, so results are bit-identical for the same key on the same
    machine, and agree to rounding across machines.

    Args:
        V: ``(..., M, N)`` non-negative data.  An unbatched ``V`` with a batch of keys (or of
            ``W0``/``H0``) fits one replicate per key on the same, uncopied ``V``.
        rank: number of components ``K`` (a warning when above ``min(M, N)``).
        loss: a name of ``LOSSES`` -- ``"frobenius"`` (``1/2 ||V - WH||_F^2``),
            ``"kl"``/``"kullback-leibler"``, ``"itakura-saito"``/``"is"`` -- or a float beta
            of the beta-divergence (2, 1, 0 are those three).  beta <= 0 needs ``V > 0``.
        max_iter: iteration cap, at most ``2**31 - 11`` (int32 counters); above 100000 the loss
            history is thinned to at most 10001 entries (``NMFResult.loss_history``).
        tol: relative-decrease tolerance (0 disables the test; the history is still recorded).
            Scalar options (``tol``, ``alpha_*``, ``l1_ratio``, ``max_iter``) are Python
            numbers or concrete 0-d arrays; traced values are refused (TypeError).
        init: ``"random"`` (``sqrt(mean(V)/K) |N(0,1)|``), ``"nndsvd"``, ``"nndsvda"``,
            ``"nndsvdar"``; ignored (as is ``key``) when ``W0``/``H0`` are given.
        W0: initial ``W`` ``(..., M, K)`` (with ``H0``: scikit-learn's ``init="custom"``);
            an unbatched one is shared by every problem of a batched ``V``.
        H0: initial ``H`` ``(..., K, N)``, given together with ``W0``.
        key: JAX PRNG key (or int seed) for random inits: one key (split per problem), one per
            problem (shape of ``V``'s batch axes), or, for an unbatched ``V``, a batch of keys
            giving replicates.  Default ``jax.random.key(0)``.  The same key gives bit-identical
            results on the same device.
        alpha_W: penalty on ``W`` as in scikit-learn >= 1.2, scaled by ``N``.
        alpha_H: penalty on ``H`` (scaled by ``M``); ``"same"`` uses ``alpha_W``.
        l1_ratio: the L1 share of the penalties, in [0, 1].
        mask: 0/1 array shaped like ``V``; only entries with mask 1 are fitted (weighted NMF).
            Entries with mask 0 are ignored, even if NaN or negative.
        dtype: computation dtype, float32 or float64; default ``V``'s (float32 stays float32;
            integer, bool or nested-list data: JAX's default float).  float64 -- asked for or
            a float64 NumPy ``V`` -- is honoured even when x64 is off (the fit runs under a
            scoped ``jax.enable_x64``).  Data whose largest entry is beyond the dtype's safe
            range is fitted on an exact power-of-4 rescaling, results scaled back
            (``_guards``); the factors and losses are never NaN/Inf silently.
        progress: None (off: the compiled loop has no callback), True (a line on stderr at
            each check) or ``callable(iterations_done, mean_loss)``, called at each check and
            once at the end.
        mesh: None (one device, the program as without this option) or a
            ``jax.sharding.Mesh`` to split the fit over (``_sharding``): several problems
            (batched ``V`` or replicates) are split along the problem axis; a single problem is
            split by rows of ``V`` and ``W`` (``H`` replicated), the compiler inserting the
            all-reduces of the ``H`` update's sums over ``M``.  Sizes that do not divide by the
            device count are padded (copies of the last problem; zero rows), with results
            those of the unpadded fit.  Results equal the one-device fit to float rounding and
            come back as ``jax.Array``s that may be sharded over the mesh.
        mesh_axis: the mesh axis to split along; may be omitted for a one-axis mesh.  Other
            mesh axes hold replicas.
        solver: a name of ``SOLVERS``: ``"mu"`` (every loss, masks), ``"hals"``, ``"amu"``,
            ``"ahals"``, ``"apg"``, ``"ehals"`` (Frobenius, no mask); or a solver object with
            other settings, e.g. ``type(SOLVERS["apg"])(inner=10)`` (Nesterov steps per
            subproblem; ``SOLVERS["ehals"]``: most sweeps).
        update_W: False keeps ``W`` fixed at ``W0`` (required then).
        update_H: False keeps ``H`` fixed at ``H0`` (required then): scikit-learn's
            ``transform``; without ``W0``, ``W`` starts at ``sqrt(mean V / K)`` or, for
            ``"hals"`` and ``"ahals"`` (as scikit-learn's cd), at zeros.

    Returns:
        ``NMFResult`` with ``W``, ``H``, ``loss_history``, ``n_iter``, ``converged``, ``loss``
        (``sqrt(2 D)``, scikit-learn's ``reconstruction_err_``).

    Raises:
        ValueError: an unknown loss or solver (the message lists the table), a solver that
            cannot minimise the loss (or take a mask), beta <= 0 with zeros in ``V``,
            ``update_H=False`` without ``H0``, negative entries (count and first index),
            NaN/Inf, rank < 1, shapes of ``W0``/``H0``/``mask``/``key`` that do not fit
            ``V``, bad options, a multi-axis ``mesh`` without ``mesh_axis`` or a
            ``mesh_axis`` it lacks, ``mesh_axis`` without ``mesh``, data beyond the dtype's
            range.  Under ``jit`` the values of ``V``, ``W0``, ``H0`` and ``mask`` are checked
            by ``equinox.error_if`` at run time.
        TypeError: a dtype other than float32/float64; a ``mesh`` that is not a ``Mesh``;
            complex or non-numeric data; a key that is no key; options of the wrong type.
        Exception: whatever a ``progress`` callable raises, as itself.
    """
    max_iter, tol, alpha_W, alpha_H, l1_ratio = _guards.scalar_options(
        max_iter, tol, alpha_W, alpha_H, l1_ratio
    )
    loss_obj = check_options(loss, init, max_iter, tol, alpha_W, alpha_H, l1_ratio)
    solver_obj = resolve_solver(solver)
    solver_obj.check(loss_obj, mask is not None)
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
    _guards.check_mesh_axis(mesh, mesh_axis)
    _guards.check_key(key)  # checked even where W0/H0 make it unused
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
        )


def transform(V_new, H, *, loss, solver, max_iter, tol, alpha_W, alpha_H, l1_ratio, mask=None):
    """``W`` for new data ``V_new`` with ``H`` fixed, scikit-learn's ``NMF.transform``:
    ``fit(V_new, K, H0=H, update_H=False)`` in ``H``'s dtype, after checking that ``V_new``
    has ``H``'s columns (``NMFResult.transform`` and ``NMF.transform``)."""
    _guards.check_transform_data(V_new, H)
    r = fit(
        V_new, H.shape[-2], loss=loss, solver=solver, max_iter=max_iter, tol=tol, H0=H,
        update_H=False, alpha_W=alpha_W, alpha_H=alpha_H, l1_ratio=l1_ratio, mask=mask,
        dtype=H.dtype,
    )  # fmt: skip
    return r.W


def _check_positive(V, mask, loss) -> None:
    """beta <= 0 (Itakura-Saito and below) with a zero in ``V``: refuse, as scikit-learn."""
    if not loss.needs_positive_data or not is_concrete(V):
        return
    zero = V == 0 if mask is None else (V == 0) & (mask != 0)
    if bool(jnp.any(zero)):
        idx = tuple(int(i) for i in np.unravel_index(int(jnp.argmax(zero)), V.shape))
        raise ValueError(
            f"loss={loss.name!r} (beta = {loss.beta:g} <= 0) needs V > 0, but V contains "
            f"{int(jnp.sum(zero))} zeros (first at index {idx}): the divergence and its updates "
            f"diverge there. Add a small positive value to V, or use a beta > 0"
        )


def _start_factor(V, mask, shape, solver, dt):
    """The free factor's start when the other is fixed and not given (scikit-learn's
    ``_check_w_h``): zeros for coordinate descent, ``sqrt(mean V / K)`` everywhere for MU."""
    if solver.zero_W_start:
        return jnp.zeros(shape, dt)
    avg = jnp.sqrt(observed_mean(V, mask) / shape[-1])
    return jnp.broadcast_to(avg.astype(dt)[..., None, None], shape)


def _fit(
    V, rank, loss, max_iter, tol, init, W0, H0, key, reg, mask, dt, progress, mesh, how
) -> NMFResult:
    """``fit`` after the option checks, with x64 in force when ``dt`` is float64.

    ``mesh`` is None or ``check_mesh``'s ``(mesh, axis)``.
    """
    alpha_W, alpha_H, l1_ratio = reg
    solver, update_W, update_H = how
    V, mask = check_data(V, mask, dt)
    _check_positive(V, mask, loss)
    custom = W0 is not None or H0 is not None
    rank = check_rank(rank, V.shape, init, custom)
    m, n = V.shape[-2:]
    start_W = W0 is None and not update_H  # the free factor starts as scikit-learn's
    start_H = H0 is None and not update_W
    if start_W:  # a placeholder through the checks, replaced below
        W0 = jnp.ones(tuple(jnp.shape(H0)[:-2]) + (m, rank), dt)  # type: ignore[arg-type]
    if start_H:
        H0 = jnp.ones(tuple(jnp.shape(W0)[:-2]) + (rank, n), dt)  # type: ignore[arg-type]
    W0, H0 = check_factors(W0, H0, V.shape, rank, dt)
    v_batch = tuple(V.shape[:-2])

    keys = None
    if custom:
        batch = v_batch or tuple(W0.shape[:-2])
        W0 = jnp.broadcast_to(W0, batch + (m, rank))
        H0 = jnp.broadcast_to(H0, batch + (rank, n))
    else:
        keys = as_keys(key)
        if keys is None:
            keys = jax.random.key(0)
        k_batch = tuple(keys.shape)
        if not k_batch:
            batch = v_batch
            keys = jax.random.split(keys, math.prod(batch)) if batch else keys[None]
        elif not v_batch or k_batch == v_batch:
            batch = k_batch
        else:
            raise ValueError(
                f"key batch shape {shape_str(k_batch)} does not fit V of shape "
                f"{shape_str(V.shape)}: give one key, one key per problem (shape "
                f"{shape_str(v_batch)}), or a batch of keys with an unbatched V for replicates"
            )
        keys = keys.reshape(-1)

    B = math.prod(batch)
    if v_batch:
        V = V.reshape((B, m, n))
        mask = None if mask is None else mask.reshape((B, m, n))
    if custom:
        W0 = W0.reshape((B, m, rank))
        H0 = H0.reshape((B, rank, n))
        if start_W:
            W0 = _start_factor(V, mask, (B, m, rank), solver, dt)
        if start_H:
            H0 = jnp.swapaxes(_start_factor(V, mask, (B, n, rank), solver, dt), -1, -2)
    spec = None
    if mesh is not None:
        mesh_, axis = mesh  # check_mesh's (mesh, axis)
        spec = make_spec(mesh_, axis, bool(v_batch), B, m)
        vs = spec.v_sharding(bool(v_batch))
        V, mask = place(V, vs, spec), place(mask, vs, spec)

    pen = penalty(alpha_W, alpha_H, l1_ratio, m, n)
    pen = jax.tree.map(lambda w: jnp.asarray(w, dt), pen)
    # out-of-range data is fitted as V / 4^k (exact; _guards): k == 0 for ordinary data
    beta = _guards.loss_beta(loss)
    k = _guards.range_exponent(V, dt, beta)
    V, W0, H0, pen = _guards.rescale_inputs(k, beta, dt, V, W0, H0, pen)
    fn = _progress.resolve(progress)
    last = [0]  # the last ``done`` reported, so the closing report never goes backwards

    def report(done, loss_value):
        assert fn is not None  # registered only when there is a callback
        last[0] = max(last[0], done)
        fn(done, loss_value * _guards.loss_unit(k, beta))  # in V's units

    token = _progress.register(report) if fn is not None else 0
    try:
        if not custom:
            W0, H0 = _initialize(V, mask, keys, rank=rank, init=init)
        args = (V, mask, W0, H0, pen, jnp.asarray(tol, dt), jnp.asarray(token, jnp.int32))
        kw: dict[str, Any] = dict(loss=loss, max_iter=int(max_iter))
        kw.update(with_progress=fn is not None)
        kw.update(solver=solver, update_W=update_W, update_H=update_H)
        if spec is None:
            W, H, history, n_iter, converged, final = _run_loop(
                args, kw, bool(v_batch), B, m, n, report if fn is not None else None
            )
        else:
            W0, H0 = place(W0, spec.w_sharding(), spec), place(H0, spec.h_sharding(), spec)
            transposed = plan(
                bool(v_batch), B, m // spec.n if spec.mode == "rows" else m, n,
                V.dtype.itemsize, loss, mask is not None, jax.default_backend(),
            ).transposed  # fmt: skip
            W, H, history, n_iter, converged, final = sharded_loop(
                *args, spec=spec, transposed=transposed, **kw
            )
        if fn is not None and is_concrete(final):
            jax.block_until_ready(final)
            jax.effects_barrier()
            report(max(last[0], int(jnp.max(n_iter))), float(jnp.mean(final)))
    except Exception:
        _progress.raise_callback_error(fn)  # the callback's own exception, if it raised
        raise
    finally:
        if fn is not None:
            _progress.unregister(token)
    W, H = _guards.guard_outputs(W, H, (final,))  # never NaN/Inf silently
    W, H, history, final = _guards.unscale_outputs(k, beta, dt, W, H, history, final)

    return NMFResult(
        W=W.reshape(batch + (m, rank)),
        H=H.reshape(batch + (rank, n)),
        loss_history=history.reshape(batch + history.shape[-1:]),
        n_iter=n_iter.reshape(batch),
        converged=converged.reshape(batch),
        loss=final.reshape(batch),
        loss_type=loss.name,
        solver=solver.name,
        max_iter=int(max_iter),
        tol=float(tol),
        alpha_W=float(alpha_W),
        alpha_H=alpha_H if isinstance(alpha_H, str) else float(alpha_H),
        l1_ratio=float(l1_ratio),
    )
