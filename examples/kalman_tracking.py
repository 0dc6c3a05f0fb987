"""Track a target with a constant-velocity Kalman filter in JAX (``lax.scan``).

The state is ``(px, py, vx, vy)``; only the position is measured, with correlated noise.  Each
step predicts with ``tracegrad.kalman.predict``, computes the gain with
``tracegrad.kalman.gain`` -- ``K = P H^T (H P H^T + R)^{-1}``, the minimiser of the posterior
covariance's trace whose derivative the registry holds (``kalman.trace_posterior_covariance``)
-- and folds the measurement in with the Joseph-form ``tracegrad.kalman.update``.

Run (from the repository root, or anywhere once tracegrad is installed)::

    PYTHONPATH=. python examples/kalman_tracking.py --steps 500
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

import tracegrad as tg


def constant_velocity(dt=0.1, accel_std=0.5, meas_std=1.0, dtype=jnp.float32):
    """``(F, Q, H, R)`` of the 2-D constant-velocity model (white-noise acceleration)."""
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    G = np.array([[dt**2 / 2, 0.0], [0.0, dt**2 / 2], [dt, 0.0], [0.0, dt]])
    Q = accel_std**2 * G @ G.T
    H = np.eye(2, 4)
    R = meas_std**2 * np.array([[1.0, 0.4], [0.4, 0.8]])
    return tuple(jnp.asarray(a, dtype) for a in (F, Q, H, R))


def simulate(key, steps: int, model):
    """True states ``(steps, 4)`` and measurements ``(steps, 2)`` drawn from the model."""
    F, Q, H, R = model
    kq, kr = jax.random.split(key)
    dtype = F.dtype
    # Q is only semi-definite (rank 2): sample the acceleration, not the state noise
    dt = F[0, 2]
    G = jnp.array([[dt**2 / 2, 0.0], [0.0, dt**2 / 2], [dt, 0.0], [0.0, dt]], dtype)
    accel_std = jnp.sqrt(Q[2, 2]) / dt
    accel = accel_std * jax.random.normal(kq, (steps, 2), dtype)
    noise = jax.random.normal(kr, (steps, 2), dtype) @ jnp.linalg.cholesky(R).T

    def move(x, a):
        x = F @ x + G @ a
        return x, x

    x0 = jnp.array([0.0, 0.0, 1.0, 0.5], dtype)
    _, states = jax.lax.scan(move, x0, accel)
    return states, states @ H.T + noise


def track(measurements, model, x0=None, P0=None):
    """Filter ``measurements``; returns ``(states, covariances, gains)`` per step."""
    F, Q, H, R = model
    dtype = F.dtype
    x0 = jnp.zeros(4, dtype) if x0 is None else x0
    P0 = 100.0 * jnp.eye(4, dtype=dtype) if P0 is None else P0

    def step(carry, z):
        x, P = tg.kalman.predict(*carry, F, Q)
        K = tg.kalman.gain(P, H, R)
        x, P = tg.kalman.update(x, P, z, H, R, gain=K)
        return (x, P), (x, P, K)

    _, (xs, Ps, Ks) = jax.lax.scan(step, (x0, P0), measurements)
    return xs, Ps, Ks


def run(steps=500, seed=0, dtype=jnp.float32):
    """Simulate and filter; position RMSE of the raw measurements and of the filter."""
    model = constant_velocity(dtype=dtype)
    states, zs = simulate(jax.random.key(seed), steps, model)
    xs, Ps, Ks = jax.jit(track)(zs, model)
    burn = steps // 10  # let the filter forget its vague prior
    rmse_meas = float(jnp.sqrt(jnp.mean((zs[burn:] - states[burn:, :2]) ** 2)))
    rmse_filter = float(jnp.sqrt(jnp.mean((xs[burn:, :2] - states[burn:, :2]) ** 2)))
    return {
        "steps": steps,
        "rmse_measurements": rmse_meas,
        "rmse_filter": rmse_filter,
        "states": states,
        "estimates": xs,
        "covariances": Ps,
        "gains": Ks,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.steps, args.seed)
    print(
        f"{result['steps']} steps: position RMSE {result['rmse_measurements']:.3f} (raw "
        f"measurements) -> {result['rmse_filter']:.3f} (Kalman filter)"
    )
    print("steady-state gain:\n", np.asarray(result["gains"][-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
