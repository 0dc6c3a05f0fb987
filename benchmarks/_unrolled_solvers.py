"""The NMF solvers' loops as they were before the ``fori_loop`` rewrite (tracegrad 82d3038):
HALS's sweep unrolled up to rank 32, the accelerated repeat tracing its update twice,
``apg``'s Nesterov and power steps unrolled with the momentum weights recomputed in Python.

The one copy of them, kept outside the package as the reference that
``tests/test_nmf_solver_loops.py`` compares the loops with, and the "before" side of
``benchmarks/bench_solver_compile.py``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from tracegrad.nmf._contract import g_h, gram_h, gram_w, v_ht, w_g, wt_v
from tracegrad.nmf._solvers._accelerated import inner_budget
from tracegrad.nmf._solvers._base import (
    AbstractDecreaseRule,
    AbstractStepSolver,
    AbstractViolationRule,
    keep,
)
from tracegrad.nmf._solvers._extrapolated import AbstractExtrapolated
from tracegrad.nmf._solvers._hals import h_system, w_system
from tracegrad.nmf._solvers._mu import ratio_step


def _old_sweep(F, G, R, active):
    K = F.shape[-2]
    viol = jnp.zeros(F.shape[:-2], F.dtype)
    zero = jnp.zeros((), F.dtype)

    def one(t, F, viol):
        g = jax.lax.dynamic_index_in_dim(G, t, axis=-2, keepdims=False)
        r = jax.lax.dynamic_index_in_dim(R, t, axis=-2, keepdims=False)
        f = jax.lax.dynamic_index_in_dim(F, t, axis=-2, keepdims=False)
        grad = jnp.einsum("...k,...kp->...p", g, F) - r
        pg = jnp.where(f == 0, jnp.minimum(grad, zero), grad)
        viol = viol + jnp.sum(jnp.abs(pg), axis=-1)
        hess = jax.lax.dynamic_index_in_dim(g, t, axis=-1, keepdims=True)
        safe = jnp.where(hess != 0, hess, jnp.ones((), F.dtype))
        new = jnp.where(hess != 0, jnp.maximum(f - grad / safe, zero), f)
        new = keep(active, new, f)
        F = jax.lax.dynamic_update_index_in_dim(F, new, t, axis=-2)
        return F, viol

    if K <= 32:  # the old UNROLL_MAX_K
        for t in range(K):
            F, viol = one(t, F, viol)
        return F, viol
    return jax.lax.fori_loop(0, K, lambda t, c: one(t, *c), (F, viol))


def _old_repeat(update, F, active, budget, delta=0.1):
    B = F.shape[:-2]
    F1, stat = update(F, active)
    first = jnp.sqrt(jnp.sum((F1 - F) ** 2, axis=(-2, -1)))
    inner = jnp.ones(B, bool) if active is None else active
    inner = inner & (first > 0)

    def cond(c):
        l, _, inner = c
        return (l < budget) & jnp.any(inner)

    def body(c):
        l, F, inner = c
        G, _ = update(F, inner)
        change = jnp.sqrt(jnp.sum((G - F) ** 2, axis=(-2, -1)))
        G = keep(inner, G, F)
        return l + 1, G, inner & (change > delta * first)

    _, F, _ = jax.lax.while_loop(cond, body, (jnp.ones((), jnp.int32), F1, inner))
    return F, stat


def _old_lipschitz(G):
    x = jnp.ones(G.shape[:-1], G.dtype)
    for _ in range(4):
        y = jnp.einsum("...ks,...s->...k", G, x)
        top = jnp.max(y, axis=-1, keepdims=True)
        x = y / jnp.where(top > 0, top, 1)
    x = x + jnp.asarray(1e-3, G.dtype)
    y = jnp.einsum("...ks,...s->...k", G, x)
    return jnp.max(y / x, axis=-1) * jnp.asarray(1 + 1e-4, G.dtype)


def _old_nesterov(F, G, R, inner, right):
    L = _old_lipschitz(G)[..., None, None]
    inv = jnp.where(L > 0, 1 / jnp.where(L > 0, L, 1), 0)
    zero = jnp.zeros((), F.dtype)
    spec = "...mk,...kl->...ml" if right else "...kl,...ln->...kn"

    def grad(Y):
        return (jnp.einsum(spec, Y, G) if right else jnp.einsum(spec, G, Y)) - R

    Y, a = F, 1.0
    for _ in range(inner):
        Fn = jnp.maximum(Y - grad(Y) * inv, zero)
        a_next = (1 + math.sqrt(4 * a * a + 1)) / 2
        Y = Fn + jnp.asarray((a - 1) / a_next, F.dtype) * (Fn - F)
        F, a = Fn, a_next
    return F


class _OldHALS(AbstractStepSolver, AbstractViolationRule):
    name = "old-hals"
    zero_W_start = True
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        viol = jnp.zeros(W.shape[:-2], W.dtype)
        if update_W:
            G, R = w_system(data, H, pen)
            Wt, v = _old_sweep(jnp.swapaxes(W, -1, -2), G, R, active)
            W, viol = jnp.swapaxes(Wt, -1, -2), viol + v
        if update_H:
            G, R = h_system(data, W, pen)
            H, v = _old_sweep(H, G, R, active)
            viol = viol + v
        return W, H, viol


class _OldAHALS(AbstractStepSolver, AbstractViolationRule):
    name = "old-ahals"
    zero_W_start = True
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        m, n, k = dims
        viol = jnp.zeros(W.shape[:-2], W.dtype)
        if update_W:
            G, R = w_system(data, H, pen)
            Wt, v = _old_repeat(
                lambda F, act: _old_sweep(F, G, R, act),
                jnp.swapaxes(W, -1, -2),
                active,
                inner_budget(m, n, k),
            )
            W, viol = jnp.swapaxes(Wt, -1, -2), viol + v
        if update_H:
            G, R = h_system(data, W, pen)
            H, v = _old_repeat(
                lambda F, act: _old_sweep(F, G, R, act), H, active, inner_budget(n, m, k)
            )
            viol = viol + v
        return W, H, viol


class _OldAMU(AbstractStepSolver, AbstractDecreaseRule):
    name = "old-amu"
    zero_W_start = False
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        m, n, k = dims
        if update_W:
            num, G = v_ht(data, H), gram_h(H)

            def upd_w(F, act):
                return ratio_step(F, num, w_g(F, G), pen.l1_W, pen.l2_W, act), None

            W, _ = _old_repeat(upd_w, W, active, inner_budget(m, n, k))
        if update_H:
            num, G = wt_v(W, data), gram_w(W)

            def upd_h(F, act):
                return ratio_step(F, num, g_h(G, F), pen.l1_H, pen.l2_H, act), None

            H, _ = _old_repeat(upd_h, H, active, inner_budget(n, m, k))
        return W, H, None


class _OldAPG(AbstractExtrapolated):
    name = "old-apg"
    gamma: ClassVar[float] = 1.05
    gamma_bar: ClassVar[float] = 1.02
    inner: int | jax.Array = 20
    inner_unit = "Nesterov steps"

    def subproblem(self, F, G, R, right, active):
        d = jnp.diagonal(G, axis1=-2, axis2=-1)
        s = jnp.sqrt(jnp.where(d > 0, d, 1))
        G = G / (s[..., :, None] * s[..., None, :])
        s = s[..., None, :] if right else s[..., :, None]
        Z = _old_nesterov(F * s, G, R / s, self.inner, right)
        return keep(active, Z / s, F)


class _OldEHALS(AbstractExtrapolated):
    name = "old-ehals"
    gamma = 1.01
    gamma_bar = 1.005
    inner: int | jax.Array = 5
    inner_unit = "HALS sweeps"

    def subproblem(self, F, G, R, right, active):
        if right:
            F, R = jnp.swapaxes(F, -1, -2), jnp.swapaxes(R, -1, -2)
        F, _ = _old_repeat(lambda X, act: _old_sweep(X, G, R, act), F, active, self.inner)
        return jnp.swapaxes(F, -1, -2) if right else F


OLD = {
    "hals": _OldHALS(),
    "ahals": _OldAHALS(),
    "amu": _OldAMU(),
    "apg": _OldAPG(),
    "ehals": _OldEHALS(),
}
