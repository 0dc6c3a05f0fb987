"""Cost of the host checks ``fit`` adds per call: the value checks of ``check_data_host`` (which
also give the per-problem largest entries) and the float-range exponent computed from them, on
the issue's workloads (a) and (b), float32.

The check that the results are finite is a flag computed inside the fit's one compiled program
(``_execute``), so it has no separate figure here.

Prints a table and writes JSON (path: first argument, default ``nmf-guards.json``); never
asserts timings.  Medians of 15 calls after a warm-up.
"""

import json
import sys
import time

import jax.numpy as jnp
import numpy as np

from tracegrad.nmf._checks import check_data_host
from tracegrad.nmf._scale import range_exponent_host

WORKLOADS = [("(a) 1024x1024 K=32", (1024, 1024), 32), ("(b) 64x257x200 K=16", (64, 257, 200), 16)]


def median_time(f, n: int = 15) -> float:
    f()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(shape: tuple[int, ...]) -> dict[str, float]:
    V = jnp.asarray(np.random.default_rng(0).random(shape), jnp.float32)
    size = shape[-2] * shape[-1]
    _, _, v_max = check_data_host(V, None, np.float32)  # in-range data: never rescaled
    assert v_max is not None and range_exponent_host(v_max, np.float32, 2.0, size) == 0
    return {
        "range_exponent_ms": 1e3
        * median_time(lambda: range_exponent_host(v_max, np.float32, 2.0, size)),
        "check_data_ms": 1e3 * median_time(lambda: check_data_host(V, None, np.float32)),
    }


def main() -> None:
    rows = [dict(workload=label, **measure(shape)) for label, shape, _ in WORKLOADS]
    print(f"{'workload':24s} {'range':>9s} {'check_data':>11s}  (ms)")
    for r in rows:
        print(f"{r['workload']:24s} {r['range_exponent_ms']:9.2f} {r['check_data_ms']:11.2f}")
    out = sys.argv[1] if len(sys.argv) > 1 else "nmf-guards.json"
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
