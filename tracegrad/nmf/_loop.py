"""``fit_loop``: every problem and iteration of a fit in one ``lax.while_loop``; jittable.

The loop is generic over the solver (``_solvers``: each owns its step and its stop rule).  It
is a ``lax.while_loop`` over blocks of ``CHECK_EVERY`` (10) iterations, each block an inner
``fori_loop`` updating all problems at once (their factors stacked on a leading batch axis,
with the solver's per-iteration stop test after each iteration) followed by the loss record
and the solver's every-10 check, so the loop body needs no conditional.  The last block runs
the ``max_iter mod 10`` iterations left, and its check is discarded (there is no check after
the last ``max_iter mod 10`` iterations, as in scikit-learn): one traced body serves every
block, and ``max_iter`` is a traced value, so a new ``max_iter`` compiles nothing.  A
per-problem ``done`` mask freezes a problem that passed its test (its factors kept exactly)
while the others go on; the loop ends when all are done or ``max_iter`` is reached.  No
Python loop runs over problems or iterations, and nothing returns to the host between
iterations (progress reports, when asked for, go out through ``jax.debug.callback``).
Measured against a per-iteration ``lax.cond`` for the check, the blocks ran 2-7% faster on both
workloads of ``benchmarks/bench_nmf.py``.

The loss record.  The square-root loss at every check goes into a buffer of fixed length
``HISTORY_CAPACITY`` per problem (so its shape does not depend on ``max_iter``): entry ``j`` is
the loss after iteration ``CHECK_EVERY * s * j`` for a stride ``s`` that starts at 1.  When the
buffer is full, it thins itself: every other entry is kept and ``s`` doubles.  At the end the
record is thinned to the stride ``history_layout(max_iter)`` gives (the stride a run to
``max_iter`` reaches), so that the entries a result holds depend on ``max_iter`` alone, not on
when the problems stopped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._constants import CHECK_EVERY
from ._contract import Data, transposed_copy
from ._loss import sqrt_loss
from ._losses import resolve_loss
from ._regularization import Penalty
from ._solvers import resolve_solver

HISTORY_CAPACITY = 1024
"""Loss-record entries kept per problem: every check up to ``max_iter = 10230`` (1024 entries
with the one at the start); above it the record thins itself to between 512 and 1024 entries
(power-of-two strides).  Even, so that thinning keeps whole pairs.  Its memory is
``4 B HISTORY_CAPACITY`` bytes for ``B`` float32 problems (4 KiB each)."""


def history_layout(max_iter: int) -> tuple[int, int]:
    """``(stride, entries)`` of the loss record of a run to ``max_iter`` iterations.

    ``stride`` is the smallest power of two with ``checks // stride + 1 <= HISTORY_CAPACITY``
    (``checks = max_iter // CHECK_EVERY``); entry ``j`` is the loss after iteration
    ``CHECK_EVERY * stride * j`` and there are ``checks // stride + 1`` entries.
    """
    checks = int(max_iter) // CHECK_EVERY
    stride = 1
    while checks // stride + 1 > HISTORY_CAPACITY:
        stride *= 2
    return stride, checks // stride + 1


def _stride_for(checks: jax.Array) -> jax.Array:
    """``history_layout``'s stride for a traced check count (int32; ``checks < 2**31``)."""

    def double(s):
        return s * 2

    return jax.lax.while_loop(
        lambda s: checks // s + 1 > HISTORY_CAPACITY, double, jnp.ones((), jnp.int32)
    )


class _State(NamedTuple):
    it: jax.Array  # iterations run by the loop so far (scalar)
    W: jax.Array  # (B, M, K)
    H: jax.Array  # (B, K, N)
    rule: Any  # the solver's stop-rule state
    carry: Any  # the solver's own state between iterations (``init_carry``; usually None)
    done: jax.Array  # (B,) stopped
    converged: jax.Array  # (B,) stopped by the test
    n_iter: jax.Array  # (B,) iterations applied to each problem
    history: jax.Array  # (B, HISTORY_CAPACITY)
    stride: jax.Array  # checks per recorded entry (scalar, a power of two)


def _record(history, stride, check, value, write):
    """Write ``value (B,)`` for ``check`` into the record (thinning it first when full), if
    ``write``; else return it unchanged."""
    full = write & (check // stride >= HISTORY_CAPACITY)
    thinned = jnp.concatenate(
        [
            history[:, ::2],
            jnp.full((history.shape[0], HISTORY_CAPACITY // 2), jnp.nan, history.dtype),
        ],
        axis=1,
    )
    history = jnp.where(full, thinned, history)
    stride = jnp.where(full, stride * 2, stride)
    keep = write & (check % stride == 0)
    slot = jnp.where(keep, check // stride, 0)
    column = jax.lax.dynamic_index_in_dim(history, slot, axis=1, keepdims=False)
    history = jax.lax.dynamic_update_index_in_dim(
        history, jnp.where(keep, value, column), slot, axis=1
    )
    return history, stride


def _final_record(history: jax.Array, stride: jax.Array, max_iter: jax.Array) -> jax.Array:
    """The record thinned from ``stride`` to a full run's stride (``history_layout``)."""
    ratio = _stride_for(max_iter // CHECK_EVERY) // stride
    idx = jnp.arange(HISTORY_CAPACITY, dtype=jnp.int32) * ratio
    return jnp.take(history, idx, axis=1, mode="fill", fill_value=jnp.nan)


def fit_loop(
    V: jax.Array,
    W: jax.Array,
    H: jax.Array,
    pen: Penalty,
    tol: jax.Array,
    max_iter: jax.Array | int,
    *,
    loss,
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
        max_iter: iteration cap, a traced int32 scalar (or a Python int).
        loss: loss object or name (static).  solver: solver object or name (static).
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
        ``(W, H, history, n_iter, converged, final_loss)``; ``history`` is ``(B,
        HISTORY_CAPACITY)``, its first ``history_layout(max_iter)[1]`` entries the record.
    """
    from . import _progress

    loss = resolve_loss(loss)
    solver = resolve_solver(solver)
    B, m, k = W.shape
    dims = (m if real_m is None else real_m, H.shape[-1], k)
    dtype = W.dtype
    max_iter = jnp.asarray(max_iter, jnp.int32)
    if B == 1 and V.ndim == 2:
        # One problem: give V the factors' batch axis of 1.  An unbatched V against (1, M, K)
        # factors compiles to broadcasting products that ran 1.3-1.5x slower per iteration
        # (benchmarks/RESULTS.md, "Measured design choices"); a shared V stays unbatched for
        # replicates, where it makes one tall product over all of them.
        V = V[None]
        mask = None if mask is None else mask[None]
    data = Data(V, transposed_copy(V) if transposed else None)
    e0 = sqrt_loss(V, W, H, loss, mask)
    history = jnp.full((B, HISTORY_CAPACITY), jnp.nan, dtype).at[:, 0].set(e0)
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
        stride=jnp.ones((), jnp.int32),
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
        # up to CHECK_EVERY iterations, then the check (discarded after a short last block):
        # the test needs no conditional in the loop
        active = ~s.done
        steps = jnp.minimum(CHECK_EVERY, max_iter - s.it)
        s = jax.lax.fori_loop(0, steps, iteration, s)
        checked = steps == CHECK_EVERY
        err = sqrt_loss(V, s.W, s.H, loss, mask)
        history, stride = _record(
            s.history, s.stride, s.it // CHECK_EVERY, jnp.where(active, err, jnp.nan), checked
        )
        stop, rule = solver.stop_after_check(s.rule, err, tol, active & ~s.done)
        stop = stop & active & ~s.done & checked
        if progress_token is not None:
            done = (progress_part * max_iter + s.it) // progress_parts
            shown = err if progress_real is None else err[:progress_real]
            jax.debug.callback(_progress.emit, progress_token, done, jnp.mean(shown))
        rule = jax.tree.map(lambda new, old: jnp.where(checked, new, old), rule, s.rule)
        return s._replace(
            rule=rule,
            done=s.done | stop,
            converged=s.converged | stop,
            history=history,
            stride=stride,
        )

    def more(s: _State) -> jax.Array:
        return (s.it < max_iter) & ~jnp.all(s.done)

    s = jax.lax.while_loop(more, block, state)
    final = sqrt_loss(V, s.W, s.H, loss, mask)
    history = _final_record(s.history, s.stride, max_iter)
    return s.W, s.H, history, s.n_iter, s.converged, final
