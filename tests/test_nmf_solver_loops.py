"""The NMF solvers' loops: the same arithmetic as the Python-unrolled loops they replaced, no
program growth with the rank or the step counts, and ``inner`` as a traced value.

The references below are the solvers as they were before their loops became ``fori_loop``s
and single-body ``while_loop``s (tracegrad 82d3038): HALS's sweep unrolled up to rank 32, the
accelerated repeat tracing its update twice, ``apg``'s Nesterov and power steps unrolled with
the momentum weights recomputed in Python.

What is bit-identical and what is not.  Each loop, compiled on its own (``sweep``,
``repeat``, ``nesterov``, ``lipschitz``), gives exactly the old loop's bits, in float32 and
float64, either side of the old rank cut-off, with frozen problems; that is asserted with
``assert_array_equal``.  A whole ``advance`` (products, loops and extrapolation in one
program) agrees to rounding only (``ROUNDING``): XLA picks the memory layout of a matrix
product's operands from the surrounding program, and the layout sets the product's
summation order.  The unrolled sweep's first column update read ``W`` in place (the
transpose folded into its static slice) where the loop reads a copy; an
``optimization_barrier`` on ``W^T`` in front of the old sweep makes the two programs
bit-identical, which locates the difference there.  ``apg``'s Nesterov steps show the same
kind of difference inside a larger program (and between a static and a traced ``inner``).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks._unrolled_solvers import OLD, _old_lipschitz, _old_nesterov, _old_repeat, _old_sweep
from tracegrad.nmf._contract import Data, g_h
from tracegrad.nmf._losses import resolve_loss
from tracegrad.nmf._regularization import Penalty
from tracegrad.nmf._solvers import SOLVERS, _accelerated, _apg, _extrapolated, _hals
from tracegrad.nmf._solvers._extrapolated import AbstractExtrapolated
from tracegrad.nmf._solvers._mu import ratio_step

# internals: the solver loops alone, bit for bit against their reference forms
pytestmark = pytest.mark.internals

FRO = resolve_loss("frobenius")
PEN = Penalty(l1_W=0.01, l1_H=0.02, l2_W=0.03, l2_H=0.01)  # every term of the subproblems
CHANGED = ("hals", "ahals", "amu", "apg", "ehals")
ROUNDING = 256
"""A whole ``advance`` agrees with the old one within this many machine epsilons of the
largest entry (normwise): differences in summation order over a few iterations, far below
any difference in the algorithm (one skipped column update or Nesterov step is ~1e-2)."""


# --- the loops alone: bit-identical ---------------------------------------------------


def _spd(rng, b, k, dtype):
    A = rng.random((b, k + 3, k))
    return (np.swapaxes(A, -1, -2) @ A + 0.1 * np.eye(k)).astype(dtype)


def _same(got, want):
    got_leaves, got_tree = jax.tree.flatten(got)
    want_leaves, want_tree = jax.tree.flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves, strict=True):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


# either side of the old unrolling cut-off (32), each dtype once: the loops are dtype-blind,
# so the full cross would compile twice the programs and prove nothing more
@pytest.mark.parametrize(("k", "dtype"), [(5, np.float64), (40, np.float32)])
def test_sweep_and_repeat_are_bit_identical(k, dtype):
    rng = np.random.default_rng(k)
    F = rng.random((3, k, 11)).astype(dtype)
    F[0, 1, :3] = 0  # zero entries: the projected gradient's other branch
    G, R = _spd(rng, 3, k, dtype), (rng.random((3, k, 11)) - 0.2).astype(dtype)
    for active in (jnp.array([True, False, True]), None):

        def both(sweep, repeat, F, G, R, active=active):  # operands as jit arguments
            def upd_mu(X, act):  # A-MU's update: a ratio step, no stat
                return ratio_step(X, R, g_h(G, X), 0.01, 0.02, act), None

            return (
                sweep(F, G, R, active),
                repeat(lambda X, act: sweep(X, G, R, act), F, active, 4),
                repeat(upd_mu, F, active, 6),
            )

        got = jax.jit(lambda *a: both(_hals.sweep, _accelerated.repeat, *a))(F, G, R)
        _same(got, jax.jit(lambda *a: both(_old_sweep, _old_repeat, *a))(F, G, R))
        if active is not None:  # a frozen problem is kept exactly
            for F_out, _ in got:
                np.testing.assert_array_equal(F_out[1], F[1])


# both sides, each dtype once (the steps are dtype-blind, as above)
@pytest.mark.parametrize(("right", "dtype"), [(True, np.float32), (False, np.float64)])
def test_nesterov_and_lipschitz_are_bit_identical(right, dtype):
    rng = np.random.default_rng(4)
    G = _spd(rng, 2, 6, dtype)
    shape = (2, 9, 6) if right else (2, 6, 9)
    F, R = rng.random(shape).astype(dtype), rng.random(shape).astype(dtype)
    _same(jax.jit(_apg.lipschitz)(G), jax.jit(_old_lipschitz)(G))
    for inner in (1, 20):
        got = jax.jit(lambda F, G, R, i=inner: _apg.nesterov(F, G, R, i, right))(F, G, R)
        want = jax.jit(lambda F, G, R, i=inner: _old_nesterov(F, G, R, i, right))(F, G, R)
        _same(got, want)


# --- whole iterations: the same to rounding ------------------------------------------------


def _problem(batch: int, k: int, dtype, m: int = 13, n: int = 9, seed: int = 0):
    """Rectangular ``V (B, M, N)`` and factors ``(B, M, K)``, ``(B, K, N)``; some zeros in
    ``W`` (the projected gradient's other branch)."""
    rng = np.random.default_rng(seed)
    V = rng.random((batch, m, n)).astype(dtype)
    W = rng.random((batch, m, k)).astype(dtype)
    W[:, 0, :2] = 0
    H = rng.random((batch, k, n)).astype(dtype)
    return V, W, H


def _run(solver, V, W, H, active, update_W=True, update_H=True, iters=3):
    """``iters`` iterations of ``solver.advance`` as ``fit``'s loop makes them, compiled:
    ``(W, H, stat of the last iteration, carry)``."""

    def loop(solver, V, W, H, active):
        data = Data(V)
        dims = (W.shape[-2], H.shape[-1], W.shape[-1])
        carry = solver.init_carry(data, W, H, PEN)

        def body(_, c):
            W, H, _, carry = c
            return solver.advance(
                carry, data, W, H, FRO, PEN, None, active, update_W, update_H, dims
            )

        stat = jnp.zeros(W.shape[:-2], W.dtype) if solver.stops_each_iteration else None
        return jax.lax.fori_loop(0, iters, body, (W, H, stat, carry))

    return eqx.filter_jit(loop)(solver, V, W, H, active)


def _close(got, want):
    got_leaves, got_tree = jax.tree.flatten(got)
    want_leaves, want_tree = jax.tree.flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype == bool:
            np.testing.assert_array_equal(g, w)
            continue
        scale = np.max(np.abs(np.where(np.isfinite(w), w, 0)), initial=1.0)
        finite = np.isfinite(w)
        np.testing.assert_array_equal(np.isfinite(g), finite)
        err = np.max(np.abs(np.where(finite, g - w, 0)), initial=0.0)
        assert err <= ROUNDING * np.finfo(w.dtype).eps * scale, (err, scale)


def _pair(name: str, inner: int = 3):
    """The solver and its reference; the extrapolated ones with fewer inner steps (the old
    unrolled Nesterov steps are slow to compile, and a few cover the loop)."""
    new, old = SOLVERS[name], OLD[name]
    if isinstance(new, AbstractExtrapolated):
        new_cls: Any = type(new)
        old_cls: Any = type(old)
        new, old = new_cls(inner=inner), old_cls(inner=inner)
    return new, old


@pytest.mark.parametrize(("k", "dtype", "batch"), [(5, np.float64, 3), (6, np.float32, 1)])
@pytest.mark.parametrize("name", CHANGED)
def test_advance_matches_the_unrolled_solvers(name, k, dtype, batch):
    """A batch of three with the middle problem frozen (the loop's ``active``), or a single
    problem (``active`` None unless the solver stops per iteration, as ``fit`` calls it)."""
    new, old = _pair(name)
    V, W, H = _problem(batch, k, dtype, m=13 if batch > 1 else 11, n=9 if batch > 1 else 14)
    if batch > 1:
        active = jnp.array([True, False, True])
    else:
        active = jnp.array([True]) if new.stops_each_iteration else None
    got = _run(new, V, W, H, active)
    _close(got, _run(old, V, W, H, active))
    if batch > 1:  # the frozen problem is kept exactly
        np.testing.assert_array_equal(got[0][1], W[1])
        np.testing.assert_array_equal(got[1][1], H[1])


@pytest.mark.parametrize(
    ("name", "update_W"),
    [("hals", False), ("ahals", True), ("amu", False), ("apg", True), ("ehals", False)],
)
def test_one_factor_fixed_matches(name, update_W):
    new, old = _pair(name)
    V, W, H = _problem(2, 6, np.float64, seed=2)
    active = jnp.array([False, True])
    flags = dict(update_W=update_W, update_H=not update_W)
    got = _run(new, V, W, H, active, **flags)
    _close(got, _run(old, V, W, H, active, **flags))
    np.testing.assert_array_equal(got[1 if update_W else 0][1], (H if update_W else W)[1])


# --- program size and traced step counts ----------------------------------------------------


def _eqn_count(solver, k: int) -> int:
    """Equations in the jaxpr of one ``advance`` at rank ``k``, nested ones included."""
    V, W, H = _problem(2, k, np.float32)
    data = Data(jnp.asarray(V))
    dims = (W.shape[-2], H.shape[-1], k)
    active = jnp.array([True, True])

    def one(W, H):
        carry = solver.init_carry(data, W, H, PEN)
        return solver.advance(carry, data, W, H, FRO, PEN, None, active, True, True, dims)

    subjaxprs = jax.core.jaxprs_in_params  # pyright: ignore[reportAttributeAccessIssue]

    def count(jaxpr) -> int:
        return sum(1 + sum(count(sub) for sub in subjaxprs(e.params)) for e in jaxpr.eqns)

    return count(jax.make_jaxpr(one)(W, H).jaxpr)


@pytest.mark.parametrize("name", CHANGED)
def test_program_does_not_grow_with_rank_or_steps(name):
    """No Python unrolling: the traced program of rank 40 is the size of rank 5's, and so is
    the program of ten times the inner steps.  (The old sweep's grew 8x from 5 to 40.)"""
    solver = SOLVERS[name]
    assert _eqn_count(solver, 40) == _eqn_count(solver, 5)
    if isinstance(solver, AbstractExtrapolated):
        cls: Any = type(solver)
        more = cls(inner=10 * solver.inner)
        assert _eqn_count(more, 5) == _eqn_count(solver, 5)


@pytest.mark.parametrize("name", ["apg", "ehals"])
def test_traced_inner_matches_static_and_compiles_once(name):
    """``inner`` as a traced int32 (a leaf of the solver under ``jax.jit``): the static int's
    result (to rounding: a loop with a known trip count compiles differently), and a new
    value compiles nothing."""
    V, W, H = _problem(2, 4, np.float64, seed=3)
    active = jnp.array([True, True])
    cls: Any = type(SOLVERS[name])
    solver = cls(inner=7)

    @jax.jit
    @eqx.debug.assert_max_traces(max_traces=1)
    def traced(solver, V, W, H):
        assert not isinstance(solver.inner, int)  # a traced leaf
        data = Data(V)
        carry = solver.init_carry(data, W, H, PEN)
        dims = (W.shape[-2], H.shape[-1], W.shape[-1])
        out = solver.advance(carry, data, W, H, FRO, PEN, None, active, True, True, dims)
        return out[0], out[1], out[3]

    def with_inner(i):
        return eqx.tree_at(lambda s: s.inner, solver, jnp.asarray(i, jnp.int32))

    def static(inner):
        W1, H1, _, carry = _run(cls(inner=inner), V, W, H, active, iters=1)
        return W1, H1, carry

    _close(traced(with_inner(7), V, W, H), static(7))
    _close(traced(with_inner(2), V, W, H), static(2))  # the same program, another value
    assert not np.allclose(traced(with_inner(7), V, W, H)[0], traced(with_inner(2), V, W, H)[0])


def test_momentum_table_is_the_python_recurrence():
    """The host table holds the weights the unrolled loop computed step by step, and casting
    it once gives the same float32 bits as casting each Python float did."""
    a, want = 1.0, []
    for _ in range(_extrapolated.MAX_INNER):
        a_next = (1 + math.sqrt(4 * a * a + 1)) / 2
        want.append((a - 1) / a_next)
        a = a_next
    assert _apg.MOMENTUM.dtype == np.float64
    np.testing.assert_array_equal(_apg.MOMENTUM, want)
    old_f32 = [np.asarray(jnp.asarray(w, jnp.float32)) for w in want]  # the old cast
    np.testing.assert_array_equal(np.asarray(_apg.MOMENTUM, np.float32), old_f32)


@pytest.mark.parametrize("name", ["apg", "ehals"])
def test_inner_limits(name):
    cls: Any = type(SOLVERS[name])
    cls(inner=_extrapolated.MAX_INNER)
    cls(inner=np.int32(3))
    for bad in (_extrapolated.MAX_INNER + 1, np.float32(3), np.array([3])):
        with pytest.raises(ValueError, match=r"inner .* positive int at most 1000"):
            cls(inner=bad)
