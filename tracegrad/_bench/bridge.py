"""What the bridge costs: step time of plain ``jax.grad``, a hand-written ``custom_vjp``, the
bridge with shadow checking off, and the bridge with shadow checking on.

The workload is one gradient step of the NMF Frobenius loss ``||X - W H||_F^2`` in ``(W, H)``
with the registry's closed forms (``traa.eq24_W``, ``traa.eq24_H``), in two modes:

* ``value_and_grad``: the loss is needed too (a training loop that logs it);
* ``grad``: only the gradient -- the bridge's forward pass is then dead code that XLA removes,
  while autodiff still needs the forward residual ``X - W H``.

Each variant is compiled once (excluded), every operand is a jit argument, each run is
synchronised with ``block_until_ready``; medians over ``n_runs`` runs, all variants measured
side by side in one process and interleaved run by run (order reversed every round), and
ratios against the hand-written ``custom_vjp`` (the floor the bridge with ``check=None``
should sit on) and ``jax.grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._bridge.bridge import with_grad
from .._registry.registry import identity
from ._compiles import count_compiles
from ._format import COMPILE_HEADER, compile_cells
from ._timing import compile_jitted, environment, time_calls

LEARNING_RATE = 1e-4


def _variants(every: int) -> dict:
    eq_w, eq_h = identity("traa.eq24_W"), identity("traa.eq24_H")
    objective = eq_w.objective

    def both(X, W, H):
        return eq_w.gradient(X, W, H), eq_h.gradient(X, W, H)

    @jax.custom_vjp
    def hand_written(X, W, H):
        return objective(X, W, H)

    def fwd(X, W, H):
        return objective(X, W, H), (X, W, H)

    def bwd(res, g):
        gw, gh = both(*res)
        return None, g * gw, g * gh

    hand_written.defvjp(fwd, bwd)
    return {
        "jax.grad": objective,
        "custom_vjp": hand_written,
        "bridge": with_grad(objective, both, argnums=(1, 2)),
        "bridge first": with_grad(objective, both, argnums=(1, 2), check="first"),
        f"bridge every:{every}": with_grad(objective, both, argnums=(1, 2), check=f"every:{every}"),
    }


def _step(f, mode: str):
    if mode == "value_and_grad":

        def step(X, W, H):
            value, (gw, gh) = jax.value_and_grad(f, argnums=(1, 2))(X, W, H)
            return value, W - LEARNING_RATE * gw, H - LEARNING_RATE * gh

        return step

    def grad_step(X, W, H):
        gw, gh = jax.grad(f, argnums=(1, 2))(X, W, H)
        return W - LEARNING_RATE * gw, H - LEARNING_RATE * gh

    return grad_step


def run_bridge(n: int = 256, n_runs: int = 20, every: int = 100, dtype=jnp.float32) -> dict:
    """Time every variant in both modes; returns medians (s), run counts and ratios.

    Args:
        n: characteristic size; ``X`` is about ``n x 1.125 n``, rank about ``n / 4``
            (the ``traa.eq24`` sampler).
        n_runs: timed runs per variant (after 3 warm-up runs), interleaved across variants.
        every: ``N`` of the ``"every:N"`` shadow variant.
        dtype: floating dtype of the operands.
    """
    X, W, H = identity("traa.eq24_W").arguments(0, dtype, n)
    variants = _variants(every)
    results: dict = {}
    ratios: dict = {}
    for mode in ("value_and_grad", "grad"):
        compiled, cold = {}, {}
        # the cold phase: compile and the first call (the shadow's first check among them)
        for name, f in variants.items():
            with count_compiles() as cold[name]:
                compiled[name] = compile_jitted(_step(f, mode), X, W, H)
                jax.block_until_ready(compiled[name](X, W, H))
        # three more warm-up calls each, then interleaved
        # rounds (``time_calls``), so drifting machine load affects every variant alike
        timings = time_calls(
            {name: (lambda c=c: jax.block_until_ready(c(X, W, H))) for name, c in compiled.items()},
            n_runs=n_runs,
            warmup=3,
        )
        results[mode] = {
            name: {"median_s": t.median, "min_s": t.min, "runs": t.runs, **cold[name].fields()}
            for name, t in timings.items()
        }
        base = results[mode]["custom_vjp"]["median_s"]
        grad = results[mode]["jax.grad"]["median_s"]
        ratios[mode] = {
            name: {"vs_custom_vjp": r["median_s"] / base, "vs_jax_grad": r["median_s"] / grad}
            for name, r in results[mode].items()
        }
    return {
        "workload": "NMF Frobenius step in (W, H), closed forms traa.eq24_W / traa.eq24_H",
        "shapes": {"X": list(X.shape), "W": list(W.shape), "H": list(H.shape)},
        "dtype": jnp.dtype(dtype).name,
        "n_runs": n_runs,
        "every": every,
        "results": results,
        "ratios": ratios,
        "environment": environment(),
    }


def format_bridge(result: dict) -> str:
    """A plain-text table of ``run_bridge``'s result."""
    s = result["shapes"]
    lines = [
        f"bridge overhead: {result['workload']}",
        f"X {s['X']}, W {s['W']}, H {s['H']}, {result['dtype']}, median of "
        f"{result['n_runs']} runs, compile excluded; device {result['environment']['device']}",
    ]
    for mode, rows in result["results"].items():
        lines.append("")
        lines.append(
            f"{mode:<22}{'median ms':>11}{'/ custom_vjp':>14}{'/ jax.grad':>12}"
            + "".join(f"{h:>11}" for h in COMPILE_HEADER)
        )
        for name, r in rows.items():
            ratio = result["ratios"][mode][name]
            lines.append(
                f"  {name:<20}{r['median_s'] * 1e3:>11.3f}{ratio['vs_custom_vjp']:>14.2f}"
                f"{ratio['vs_jax_grad']:>12.2f}" + "".join(f"{c:>11}" for c in compile_cells(r))
            )
    return "\n".join(lines)
