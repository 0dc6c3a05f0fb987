"""NMF by projected gradient descent with optax, driven by closed-form gradients.

``X ~ W H`` with ``W, H >= 0``, fitted by an optax optimiser whose gradients come from the
hand-derived closed forms through ``tracegrad.with_grad`` instead of autodiff:

* Frobenius loss ``||X - W H||_F^2``: the registry's ``traa.eq24_W`` / ``traa.eq24_H``
  (trace notes eq. 24): ``dW = -2 X H^T + 2 W H H^T``, ``dH = -2 W^T X + 2 W^T W H``.
* KL divergence ``D(V || W H) = sum V log(V / WH) - V + WH``: by trace notes eq. (27) with
  ``A = I`` (``d sum V log(W H)/dW = (V / WH) H^T``) and eq. (9) for the linear term
  (``d sum W H/dW = 1 H^T``): ``dW = (1 - V / WH) H^T``, ``dH = W^T (1 - V / WH)``.

The parameters are one pytree ``{"W": W, "H": H}``, so one bridge covers both factors.  After
each optax step the factors are projected back onto ``{p >= FLOOR}`` (the floor keeps
``log(W H)`` finite for KL).

Run (from the repository root; ``PYTHONPATH=.`` is unnecessary once tracegrad is installed)::

    PYTHONPATH=. python examples/nmf_optax.py            # fit, compare with autodiff training
    PYTHONPATH=. python examples/nmf_optax.py --loss kl --steps 500
    PYTHONPATH=. python examples/nmf_optax.py --bench    # step time: bridge vs plain jax.grad
"""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import xlogy

import tracegrad as tg

FLOOR = 1e-8
"""Lower bound of the projection onto the non-negative orthant."""


# -- losses and their closed-form gradients ----------------------------------------------------


def frobenius(params, X):
    """``||X - W H||_F^2``."""
    R = X - params["W"] @ params["H"]
    return jnp.sum(R * R)


def frobenius_grad(params, X):
    """Trace notes eq. (24), straight from the registry."""
    W, H = params["W"], params["H"]
    return {
        "W": tg.identity("traa.eq24_W").gradient(X, W, H),
        "H": tg.identity("traa.eq24_H").gradient(X, W, H),
    }


def kl(params, V):
    """Generalised KL divergence ``sum V log(V / WH) - V + WH`` (``0 log 0 = 0``)."""
    WH = params["W"] @ params["H"]
    return jnp.sum(xlogy(V, V) - xlogy(V, WH) - V + WH)


def kl_grad(params, V):
    """Trace notes eqs. (27) and (9): ``dW = (1 - V/WH) H^T``, ``dH = W^T (1 - V/WH)``."""
    W, H = params["W"], params["H"]
    E = 1.0 - V / (W @ H)
    return {"W": E @ H.T, "H": W.T @ E}


LOSSES = {"frobenius": (frobenius, frobenius_grad), "kl": (kl, kl_grad)}


# -- training -----------------------------------------------------------------------------------


def make_step(
    loss: str = "frobenius",
    gradients: str = "bridge",
    learning_rate: float = 1e-2,
    check: str | None = None,
):
    """``(step, optimizer)``: one jittable projected optax step ``(params, state, X) -> ...``.

    Args:
        loss: ``"frobenius"`` or ``"kl"``.
        gradients: ``"bridge"`` (closed forms through ``tracegrad.with_grad``) or
            ``"autodiff"`` (plain ``jax.value_and_grad``).
        learning_rate: Adam step size.
        check: the bridge's shadow mode (``None``, ``"first"``, ``"every:N"``).
    """
    objective, gradient = LOSSES[loss]
    if gradients == "bridge":
        objective = tg.with_grad(objective, gradient, check=check)
    elif gradients != "autodiff":
        raise ValueError(f"gradients must be 'bridge' or 'autodiff', got {gradients!r}")
    optimizer = optax.adam(learning_rate)

    def step(params, state, X):
        value, grads = jax.value_and_grad(objective)(params, X)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        params = jax.tree.map(lambda p: jnp.maximum(p, FLOOR), params)  # the projection
        return params, state, value

    return step, optimizer


def init_params(key, X, rank: int):
    """Uniform positive factors scaled so that ``W H`` has the magnitude of ``X``."""
    m, n = X.shape
    scale = jnp.sqrt(jnp.mean(X) / rank)
    kw, kh = jax.random.split(key)
    return {
        "W": scale * jax.random.uniform(kw, (m, rank), X.dtype, 0.5, 1.5),
        "H": scale * jax.random.uniform(kh, (rank, n), X.dtype, 0.5, 1.5),
    }


def fit(
    X,
    rank: int,
    *,
    loss="frobenius",
    gradients="bridge",
    steps=200,
    learning_rate=1e-2,
    seed=0,
    check=None,
):
    """Fit ``X ~ W H``; returns ``(params, losses)`` with the loss before each step.

    The whole loop is one ``lax.scan`` under ``jit``.
    """
    step, optimizer = make_step(loss, gradients, learning_rate, check)
    params = init_params(jax.random.key(seed), X, rank)

    @jax.jit
    def run(params, X):
        def body(carry, _):
            params, state = carry
            params, state, value = step(params, state, X)
            return (params, state), value

        (params, _), losses = jax.lax.scan(body, (params, optimizer.init(params)), length=steps)
        return params, losses

    return run(params, X)


def synthetic(key, m: int, n: int, rank: int, dtype=jnp.float32):
    """A positive ``m x n`` matrix of rank ``rank`` plus a little positive noise."""
    kw, kh, kn = jax.random.split(key, 3)
    W = jax.random.uniform(kw, (m, rank), dtype)
    H = jax.random.uniform(kh, (rank, n), dtype)
    return W @ H + 0.01 * jax.random.uniform(kn, (m, n), dtype)


def compare(m=60, n=40, rank=5, steps=200, loss="frobenius", dtype=jnp.float32, seed=0):
    """Train with the bridge and with autodiff from the same start; the final losses."""
    X = synthetic(jax.random.key(seed), m, n, rank, dtype)
    objective = LOSSES[loss][0]
    out = {}
    for gradients in ("bridge", "autodiff"):
        params, losses = fit(X, rank, loss=loss, gradients=gradients, steps=steps, seed=seed)
        out[gradients] = {
            "initial_loss": float(losses[0]),
            "final_loss": float(objective(params, X)),
        }
    b, a = out["bridge"]["final_loss"], out["autodiff"]["final_loss"]
    out["relative_difference"] = abs(b - a) / abs(a)
    return out


def benchmark(m=512, n=384, rank=32, loss="frobenius", n_runs=20, dtype=jnp.float32):
    """Median step time (``value_and_grad`` + Adam + projection): bridge vs plain jax.grad.

    Every operand is a jit argument, compilation is excluded, ``block_until_ready``.
    """
    from tracegrad._bench._timing import environment, time_jitted

    X = synthetic(jax.random.key(0), m, n, rank, dtype)
    params = init_params(jax.random.key(1), X, rank)
    times = {}
    for gradients in ("autodiff", "bridge"):
        step, optimizer = make_step(loss, gradients)
        timing = time_jitted(step, params, optimizer.init(params), X, n_runs=n_runs)
        times[gradients] = timing.median
    return {
        "shape": {"m": m, "n": n, "rank": rank},
        "loss": loss,
        "dtype": jnp.dtype(dtype).name,
        "n_runs": n_runs,
        "median_step_s": times,
        "bridge_over_autodiff": times["bridge"] / times["autodiff"],
        "environment": environment(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=sorted(LOSSES), default="frobenius")
    parser.add_argument("--m", type=int, default=60)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--rank", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--bench", action="store_true", help="time one step instead")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    if args.bench:
        result = benchmark(args.m, args.n, args.rank, args.loss, args.runs)
        t = result["median_step_s"]
        print(
            f"NMF {args.loss} step, {args.m}x{args.n} rank {args.rank}, median of {args.runs}: "
            f"autodiff {t['autodiff'] * 1e3:.3f} ms, bridge {t['bridge'] * 1e3:.3f} ms, "
            f"bridge/autodiff {result['bridge_over_autodiff']:.2f}"
        )
        print(json.dumps(result, indent=2))
        return 0
    result = compare(args.m, args.n, args.rank, args.steps, args.loss)
    for gradients in ("bridge", "autodiff"):
        r = result[gradients]
        print(f"{gradients:>8}: loss {r['initial_loss']:.6g} -> {r['final_loss']:.6g}")
    print(f"relative difference of the final losses: {result['relative_difference']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
