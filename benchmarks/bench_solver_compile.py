"""Compile time and warm per-iteration time of the NMF solvers' loops, before and after the
``fori_loop`` rewrite (issue 20, item 3), side by side in one process.

"before" is a copy of the Python-unrolled loops (tracegrad 82d3038) kept here, not in the
package; "after" is the package.  The program timed is ``CHECK_EVERY`` (10) iterations of
``solver.advance`` in a ``fori_loop``, as ``fit``'s loop calls it, for one 1024 x 1024 float32
problem with ``V^T`` kept beside ``V`` (``_layout``'s choice for it).  Compile: ``jax.jit(f)
.lower(...).compile()`` wall time of a fresh function, and the XLA seconds reported on
``/jax/core/compile/backend_compile_duration``; warm: the compiled program's time over its
iterations.  Both sides alternate within each round; medians over rounds.

    python benchmarks/bench_solver_compile.py [--rounds R] [--ranks 32,64] [--out FILE.json]

Prints a table and writes JSON; never asserts timings.  Correctness first: each "after"
program's factors are compared with "before"'s (max relative difference) before timing.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import time
from typing import ClassVar

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np

from tracegrad.nmf._contract import Data, g_h, gram_h, gram_w, transposed_copy, v_ht, w_g, wt_v
from tracegrad.nmf._losses import resolve_loss
from tracegrad.nmf._regularization import Penalty
from tracegrad.nmf._solvers import SOLVERS
from tracegrad.nmf._solvers._accelerated import inner_budget
from tracegrad.nmf._solvers._base import AbstractSolver, ViolationRule, keep
from tracegrad.nmf._solvers._extrapolated import AbstractExtrapolated
from tracegrad.nmf._solvers._hals import h_system, w_system
from tracegrad.nmf._solvers._mu import ratio_step

ITERS = 10  # fit's CHECK_EVERY: one block of its loop
FRO = resolve_loss("frobenius")

# --- before: the Python-unrolled loops (tracegrad 82d3038), verbatim but for names --------


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


class _OldHALS(ViolationRule):
    name = "old-hals"

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


class _OldAHALS(ViolationRule):
    name = "old-ahals"

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


class _OldAMU(AbstractSolver):
    name = "old-amu"

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
    inner: int | jax.Array = 5
    inner_unit = "HALS sweeps"

    def subproblem(self, F, G, R, right, active):
        if right:
            F, R = jnp.swapaxes(F, -1, -2), jnp.swapaxes(R, -1, -2)
        F, _ = _old_repeat(lambda X, act: _old_sweep(X, G, R, act), F, active, self.inner)
        return jnp.swapaxes(F, -1, -2) if right else F


BEFORE = {
    "mu": SOLVERS["mu"],  # unchanged
    "hals": _OldHALS(),
    "amu": _OldAMU(),
    "ahals": _OldAHALS(),
    "apg": _OldAPG(),
    "ehals": _OldEHALS(),
}

_XLA_SECONDS: list[float] = []


def _listen(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _XLA_SECONDS.append(duration)


def program(solver):
    """A fresh jitted function (so nothing is cached): ``ITERS`` iterations of ``advance``."""

    def loop(V, W, H):
        Vb = V[None]
        data = Data(Vb, transposed_copy(Vb))
        dims = (W.shape[-2], H.shape[-1], W.shape[-1])
        pen = Penalty()
        act = jnp.ones(W.shape[:-2], bool) if solver.stops_each_iteration else None
        carry = solver.init_carry(data, W, H, pen)

        def body(_, c):
            W, H, carry = c
            W, H, _, carry = solver.advance(
                carry, data, W, H, FRO, pen, None, act, True, True, dims
            )
            return W, H, carry

        W, H, _ = jax.lax.fori_loop(0, ITERS, body, (W, H, carry))
        return W, H

    return jax.jit(loop)


def inputs(k: int, m: int = 1024, n: int = 1024):
    rng = np.random.default_rng(0)
    V = rng.random((m, n)).astype(np.float32)
    s = math.sqrt(float(V.mean()) / k)
    W = (s * rng.random((1, m, k))).astype(np.float32)
    H = (s * rng.random((1, k, n))).astype(np.float32)
    return jnp.asarray(V), jnp.asarray(W), jnp.asarray(H)


def compile_once(solver, args):
    """``(wall seconds of lower + compile, XLA seconds, compiled)`` for a fresh program."""
    _XLA_SECONDS.clear()
    t = time.perf_counter()
    compiled = program(solver).lower(*args).compile()
    return time.perf_counter() - t, sum(_XLA_SECONDS), compiled


def warm_ms(compiled, args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return 1e3 * (time.perf_counter() - t) / ITERS


def max_rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (compile)")
    p.add_argument("--warm-rounds", type=int, default=15, help="alternating warm calls")
    p.add_argument("--ranks", default="32,64")
    p.add_argument("--solvers", default=",".join(BEFORE))
    p.add_argument("--out", default="bench-solver-compile.json")
    a = p.parse_args()
    jax.monitoring.register_event_duration_secs_listener(_listen)  # pyright: ignore[reportArgumentType]
    cpu = subprocess.run(
        "lscpu | grep 'Model name'", shell=True, capture_output=True, text=True
    ).stdout.strip()
    print(cpu or platform.processor())
    rows = []
    for k in [int(r) for r in a.ranks.split(",")]:
        args = inputs(k)
        for name in a.solvers.split(","):
            sides = {"before": BEFORE[name], "after": SOLVERS[name]}
            wall = {s: [] for s in sides}
            xla = {s: [] for s in sides}
            compiled = {}
            for _ in range(a.rounds):
                for side, solver in sides.items():
                    w, x, compiled[side] = compile_once(solver, args)
                    wall[side].append(w)
                    xla[side].append(x)
            out = {s: compiled[s](*args) for s in sides}
            diff = max(max_rel(x, y) for x, y in zip(out["after"], out["before"], strict=True))
            warm = {s: [] for s in sides}
            for s in sides:
                warm_ms(compiled[s], args)
            for _ in range(a.warm_rounds):
                for s in sides:
                    warm[s].append(warm_ms(compiled[s], args))
            row = dict(
                solver=name,
                rank=k,
                rounds=a.rounds,
                warm_rounds=a.warm_rounds,
                max_rel_diff=diff,
                **{f"compile_s_{s}": float(np.median(wall[s])) for s in sides},
                **{f"xla_s_{s}": float(np.median(xla[s])) for s in sides},
                **{f"ms_per_iter_{s}": float(np.median(warm[s])) for s in sides},
                raw=dict(wall=wall, xla=xla, warm=warm),
            )
            rows.append(row)
            print(
                f"K={k:3d} {name:6s} compile {row['compile_s_before']:6.2f} -> "
                f"{row['compile_s_after']:5.2f} s (XLA {row['xla_s_before']:6.2f} -> "
                f"{row['xla_s_after']:5.2f})  ms/iter {row['ms_per_iter_before']:6.2f} -> "
                f"{row['ms_per_iter_after']:6.2f}  max rel diff {diff:.1e}",
                flush=True,
            )
    with open(a.out, "w") as f:
        json.dump(dict(cpu=cpu, jax=jax.__version__, rows=rows), f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
