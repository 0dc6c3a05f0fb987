"""Cost of the checks ``fit`` adds per call: the float-range exponent, the output check, and
the value checks of ``check_data``, on the issue's workloads (a) and (b), float32.

Prints a table and writes JSON (path: first argument, default ``nmf-guards.json``); never
asserts timings.  Medians of 15 calls after a warm-up; each call ends in a host read, so the
times include the synchronisation the checks need.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from tracegrad.nmf import _guards
from tracegrad.nmf._validate import check_data

WORKLOADS = [("(a) 1024x1024 K=32", (1024, 1024), 32), ("(b) 64x257x200 K=16", (64, 257, 200), 16)]


def median_time(f, n: int = 15) -> float:
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(shape: tuple[int, ...], k: int) -> dict[str, float]:
    V = jnp.asarray(np.random.default_rng(0).random(shape), jnp.float32)
    W = jnp.ones(shape[:-1] + (k,), jnp.float32)
    H = jnp.ones(shape[:-2] + (k, shape[-1]), jnp.float32)
    loss = jnp.ones(shape[:-2], jnp.float32)
    return {
        "range_exponent_ms": 1e3 * median_time(lambda: _guards.range_exponent(V, np.float32, 2.0)),
        "guard_outputs_ms": 1e3 * median_time(lambda: _guards.guard_outputs(W, H, (loss,))),
        "check_data_ms": 1e3
        * median_time(lambda: jax.block_until_ready(check_data(V, None, np.float32))),
    }


def main() -> None:
    rows = [dict(workload=label, **measure(shape, k)) for label, shape, k in WORKLOADS]
    print(f"{'workload':24s} {'range':>9s} {'outputs':>9s} {'check_data':>11s}  (ms)")
    for r in rows:
        print(
            f"{r['workload']:24s} {r['range_exponent_ms']:9.2f} {r['guard_outputs_ms']:9.2f} "
            f"{r['check_data_ms']:11.2f}"
        )
    out = sys.argv[1] if len(sys.argv) > 1 else "nmf-guards.json"
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
