"""The checker's own benchmark: mutation detection, false alarms on right gradients, and cost.

    python benchmarks/bench_checker.py                       # everything (long: ~30 min)
    python benchmarks/bench_checker.py --part mutants --seeds 0 1 2
    python benchmarks/bench_checker.py --part false_alarms --draws 40
    python benchmarks/bench_checker.py --part cost --n 1024

* mutants: every registry identity plus the Cookbook-style extras, each mistake of
  ``tracegrad._bench.checker.KINDS`` per seed, in float32 and float64, checked without
  ``terms=``: detection rate, false alarms on the true gradients, and how often the diagnosis
  names a dropped term or a symmetrisation slip.
* false_alarms: ``--draws`` fresh float32 draws of every registry identity (25 x 40 = 1000 by
  default), the right closed form checked as a function and as an array.
* cost: float32 ``check_grad`` on an n x n argument against one ``jax.grad`` plus one
  ``jax.jvp`` (compiled, medians of alternating rounds).

Prints tables and writes JSON (``--out``); asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from tracegrad._bench._timing import environment
from tracegrad._bench.checker import (
    cost_rows,
    false_alarm_rows,
    mutation_rows,
    summarize_mutations,
)


def _mutants(seeds) -> dict:
    t0 = time.perf_counter()
    rows = mutation_rows(seeds=tuple(seeds))
    summary = summarize_mutations(rows)
    print(f"\nmutants ({time.perf_counter() - t0:.0f} s), seeds {list(seeds)}")
    print(
        f"{'dtype':<8} {'mutants':>8} {'detected':>9} {'true':>5} {'false alarms':>13} "
        f"{'term slips named':>17}"
    )
    for dtype, s in summary.items():
        print(
            f"{dtype:<8} {s['mutants']:>8} {s['detected']:>4} "
            f"({100 * s['detected'] / s['mutants']:.2f}%)"
            f" {s['true_gradients']:>5} {s['false_alarms']:>13} "
            f"{s['term_slips_named']:>5}/{s['term_slips']} "
            f"({100 * s['term_slips_named'] / max(s['term_slips'], 1):.1f}%)"
        )
        for kind, k in s["per_kind"].items():
            print(
                f"    {kind:<15} n {k['n']:>4}  detected {k['detected']:>4}  named {k['named']:>4}"
            )
    missed = [r for r in rows if r["kind"] != "true" and not r["rejected"]]
    for r in missed:
        print(
            f"  MISSED {r['identity']} {r['dtype']} seed {r['seed']} {r['kind']} "
            f"(err {r['max_rel_err']:.2e}, rtol {r['rtol']:.2e})"
        )
    return {"summary": summary, "rows": rows}


def _false_alarms(draws: int) -> dict:
    t0 = time.perf_counter()
    rows = false_alarm_rows(draws)
    print(f"\nfalse alarms ({time.perf_counter() - t0:.0f} s): {draws} float32 draws per identity")
    out = {}
    for mode in ("function", "array"):
        rs = [r for r in rows if r["mode"] == mode]
        rejected = [r for r in rs if r["rejected"]]
        ratio = np.array([r["err"] / r["rtol"] for r in rs])
        noise = np.array([r["noise"] for r in rs])
        rtol = np.array([r["rtol"] for r in rs])
        out[mode] = {
            "checks": len(rs),
            "rejected": len(rejected),
            "rate": len(rejected) / len(rs),
            "max_err_over_rtol": float(ratio.max()),
            "median_rtol": float(np.median(rtol)),
            "max_rtol": float(rtol.max()),
            "median_noise": float(np.median(noise)),
            "max_noise": float(noise.max()),
        }
        print(
            f"  {mode:<8} {len(rs)} checks, {len(rejected)} rejected; worst error/rtol "
            f"{ratio.max():.3f}; rtol median {np.median(rtol):.2e} max {rtol.max():.2e}; "
            f"noise median {np.median(noise):.2e} max {noise.max():.2e}"
        )
        for r in rejected:
            print(
                f"    REJECTED {r['identity']} seed {r['seed']} err {r['err']:.2e} "
                f"rtol {r['rtol']:.2e}"
            )
    return {"summary": out, "rows": rows}


def _cost(n: int, rounds: int) -> dict:
    rows = cost_rows(n, rounds)
    print(
        f"\ncost: float32 check_grad on {n}x{n} vs one jax.grad + one jax.jvp "
        f"(medians of {rounds} alternating rounds)"
    )
    print(
        f"  {'objective':<18} {'grad s':>8} {'jvp s':>8} {'check(fn) s':>12} "
        f"{'check(arr) s':>13} {'ratio fn':>9} {'ratio arr':>10}"
    )
    for r in rows:
        print(
            f"  {r['objective']:<18} {r['grad_s']:>8.4f} {r['jvp_s']:>8.4f} "
            f"{r['check_fn_s']:>12.4f} {r['check_array_s']:>13.4f} {r['ratio_fn']:>9.2f} "
            f"{r['ratio_array']:>10.2f}"
        )
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "mutants", "false_alarms", "cost"], default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="out/bench_checker.json")
    args = parser.parse_args()
    result: dict = {"environment": environment(), "command": " ".join(sys.argv)}
    if args.part in ("all", "false_alarms"):
        with jax.enable_x64(True):
            result["false_alarms"] = _false_alarms(args.draws)
    if args.part in ("all", "mutants"):
        result["mutants"] = _mutants(args.seeds)
    if args.part in ("all", "cost"):
        result["cost"] = _cost(args.n, args.rounds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
