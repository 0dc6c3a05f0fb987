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

import jax
import jax.monitoring
import jax.numpy as jnp
import numpy as np
from _unrolled_solvers import OLD  # the pre-rewrite loops, beside this script

from tracegrad.nmf._contract import Data, transposed_copy
from tracegrad.nmf._losses import resolve_loss
from tracegrad.nmf._regularization import Penalty
from tracegrad.nmf._solvers import SOLVERS

ITERS = 10  # fit's CHECK_EVERY: one block of its loop
FRO = resolve_loss("frobenius")

BEFORE = {"mu": SOLVERS["mu"], **OLD}  # mu's loop is unchanged

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
