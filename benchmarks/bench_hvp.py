"""Closed-form HVPs vs jax.jvp(jax.grad), and dense Hessians vs jax.hessian (prints, writes JSON).

    python benchmarks/bench_hvp.py --n 256 --dense-n 1000 --dtype float32 --out hvp.json

Timings only; correctness is checked (relative error column) before timing, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracegrad._bench.hvp import run_hvp  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--dense-n", type=int, default=1000)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--dense-runs", type=int, default=2)
    p.add_argument("--only", default=None, help="regular expression on identity names")
    p.add_argument("--out", default="")
    a = p.parse_args()
    res = run_hvp(a.n, a.dense_n, a.dtype, a.runs, a.dense_runs, a.only)
    print(f"{'identity':<36} {'shape':<12} {'closed ms':>10} {'jvp(grad) ms':>13} {'ratio':>7}")
    for r in res["rows"]:
        shape = "x".join(map(str, r["shape"]))
        print(
            f"{r['identity']:<36} {shape:<12} {1e3 * r['closed_s']:>10.3f} "
            f"{1e3 * r['jvp_grad_s']:>13.3f} {r['ratio']:>7.2f}"
        )
    print(f"geometric mean ratio: {res['geomean_ratio']:.2f}")
    head = f"{'dense Hessian':<36} {'size':>6} {'closed ms':>10} {'jax.hessian ms':>15}"
    print(f"\n{head} {'ratio':>7}")
    for r in res["dense"]:
        if "skipped" in r:
            print(f"{r['identity']:<36} {r['size']:>6} skipped: {r['skipped']}")
            continue
        print(
            f"{r['identity']:<36} {r['size']:>6} {1e3 * r['closed_s']:>10.3f} "
            f"{1e3 * r['jax_hessian_s']:>15.3f} {r['ratio']:>7.2f}"
        )
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
